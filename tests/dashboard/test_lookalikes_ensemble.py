"""An ensemble's look-alikes: its first member's feature space, the ensemble's own probability
(quality_home's ensemble of two small-CNN runs on real images)."""

from __future__ import annotations

import numpy as np
import pytest

from db import feature_map, runs
from db.session import artifacts_root
from engine.evaluation.feature_map import FeatureFile
from tests.conftest import point_at


def test_an_ensemble_uses_its_first_members_space_and_its_own_probability(
        monkeypatch: pytest.MonkeyPatch, quality_home: dict) -> None:
    from engine.inference.predictor import combine_probabilities

    point_at(monkeypatch, quality_home["home"], quality_home["url"])
    ensemble = runs.get_run(quality_home["ensemble_id"])
    members = [FeatureFile.load(artifacts_root() / feature_map.lookalike_index(run_id).path)
               for run_id in quality_home["run_ids"]]
    own = FeatureFile.load(artifacts_root()
                           / feature_map.lookalike_index(ensemble.id).path)
    assert np.array_equal(own.image_ids, members[0].image_ids)
    assert np.allclose(own.features.astype(np.float32), members[0].features.astype(np.float32),
                       atol=2e-3)
    combined = combine_probabilities(np.stack([member.probability for member in members]),
                                     ensemble.config.get("combine", "prob"),
                                     ensemble.temperature, ensemble.logit_offset)
    assert np.allclose(own.probability, combined, atol=1e-5)
