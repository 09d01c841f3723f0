"""The Map page's colourings draw every point exactly once, whatever the values: one trace per
category, each point's id in exactly one trace."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.map_views import COLOURINGS, map_figure
from db.feature_map import MAP_COLUMNS

ROWS = st.lists(st.tuples(
    st.floats(0, 1), st.integers(0, 1), st.sampled_from([None, "bacteria", "virus", "", "fungal"]),
    st.sampled_from([None, True, False]),
    st.sampled_from([None, "label error", "model error", "ambiguous", "correct"])),
    min_size=0, max_size=40)


@settings(max_examples=8, deadline=None)
@given(ROWS, st.floats(0, 1))
def test_every_colouring_draws_each_point_once(rows: list, threshold: float) -> None:
    frame = pd.DataFrame([(index + 1, float(index), -float(index), *row)
                          for index, row in enumerate(rows)], columns=MAP_COLUMNS)
    for key in COLOURINGS:
        figure = map_figure(frame, key, threshold, revision=1)
        drawn = [image_id for trace in figure.data for image_id in trace.customdata or ()]
        assert sorted(drawn) == list(frame.image_id), key
        assert sum(len(np.asarray(trace.x)) for trace in figure.data) == len(frame)
