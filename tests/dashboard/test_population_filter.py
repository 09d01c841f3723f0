"""The Errors gallery's typicality filter and badge, over Dash's HTTP callback endpoint."""

from __future__ import annotations

import json

from db import evaluations, gallery, runs
from tests.dashboard import dash_http


def test_gallery_filters_on_outside_the_training_population(client, trained_home: dict) -> None:
    deps = dash_http.dependencies(client)
    run_id = trained_home["run_ids"][0]
    evaluation_id = evaluations.evaluation_id_for(run_id, "val")
    threshold = round(runs.get_run(run_id).threshold, 4)
    shown_outside = []
    for cell in dash_http.CELLS:
        status, body = dash_http.post(client, dash_http.drill_down_body(
            deps, run_id, "val", threshold, cell, population="outside"))
        assert status == 200
        shown = dash_http.gallery_image_ids(body)
        items = gallery.cell_images(evaluation_id, cell, threshold, population="outside").items
        assert shown == [item.image_id for item in items]
        if shown:  # every flagged tile carries the badge
            text = json.dumps(body)
            assert text.count("outside the training population") >= len(shown)
        shown_outside += shown
        everything = gallery.cell_images(evaluation_id, cell, threshold, limit=1000).items
        status, body = dash_http.post(client, dash_http.drill_down_body(
            deps, run_id, "val", threshold, cell, population="inside"))
        inside = dash_http.gallery_image_ids(body)
        assert set(inside) | set(shown) == {item.image_id for item in everything}
    assert shown_outside  # val's most distant image is always flagged
