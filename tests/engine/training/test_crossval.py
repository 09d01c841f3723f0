"""`cxr crossval` on real images: patient-level folds, one out-of-fold prediction with its
Grad-CAM per training image, and cleanlab's ranking stored with it."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from engine.errors import UserError
from tests.conftest import point_at


@pytest.fixture
def crossval_store(crossval_home: dict, monkeypatch: pytest.MonkeyPatch) -> dict:
    point_at(monkeypatch, crossval_home["home"], crossval_home["url"])
    return crossval_home


def test_every_training_image_gets_one_out_of_fold_prediction_and_rank(
        crossval_store: dict) -> None:
    from db import evaluations, label_issues, runs
    from db.session import artifacts_root
    from db.splits import split_images

    run = runs.get_run(crossval_store["run_id"])
    assert run.status == "completed" and run.config["origin"] == "crossval"
    assert run.config["folds"] == 3 and run.checkpoint_path is None
    # No checkpoint of its own: never offered for scoring.
    assert run.id not in {scorable.id for scorable in runs.completed_runs()}
    train = {image.image_id: image.label for image in split_images(run.split_id, "train")}
    evaluation_id = evaluations.evaluation_id_for(run.id, "oof")
    oof = label_issues.out_of_fold(evaluation_id)
    assert sorted(row.image_id for row in oof) == sorted(train)
    assert all(row.given_label == train[row.image_id] for row in oof)
    queue = label_issues.label_queue(run.id, limit=len(train), only_suspected=False,
                                     include_reviewed=True)
    assert queue.ranked == len(train) and [item.rank for item in queue.items] == list(
        range(1, len(train) + 1))
    for item in queue.items:  # self-confidence: the out-of-fold probability of the given label
        expected = item.probability if item.given_label else 1 - item.probability
        assert item.label_quality == pytest.approx(expected, abs=1e-6)
        assert item.has_cam
    qualities = [item.label_quality for item in queue.items]
    assert qualities == sorted(qualities)
    cams = [evaluations.prediction_cam_path(item.prediction_id) for item in queue.items]
    assert all((artifacts_root() / cam).is_file() for cam in cams)
    assert {item.fold for item in queue.items} == {0, 1, 2}


def test_folds_keep_patients_together_and_hold_both_labels(crossval_store: dict) -> None:
    from db import runs
    from db.splits import split_images
    from engine.training.crossval import assign_folds

    images = split_images(runs.get_run(crossval_store["run_id"]).split_id, "train")
    folds = assign_folds(images, 3, seed=0)
    fold_of_patient: dict[str, set[int]] = defaultdict(set)
    for image, fold in zip(images, folds, strict=True):
        fold_of_patient[image.patient_id].add(int(fold))
    assert all(len(found) == 1 for found in fold_of_patient.values())
    labels = np.array([image.label for image in images])
    assert all(set(labels[folds == fold].tolist()) == {0, 1} for fold in range(3))
    with pytest.raises(UserError, match="at least 2 folds"):
        assign_folds(images, 1, seed=0)
    with pytest.raises(UserError, match="choose fewer folds"):
        assign_folds(images, len(images) + 1, seed=0)


def test_cleanlab_ranks_a_confidently_contradicted_label_first() -> None:
    from engine.evaluation.label_issues import rank_labels

    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 50)
    probability = np.where(labels == 1, rng.uniform(0.7, 0.99, 100), rng.uniform(0.01, 0.3, 100))
    probability[[3, 70]] = [0.98, 0.02]  # the models agree: these two labels are wrong
    ranking = rank_labels(labels, probability)
    assert set(np.flatnonzero(ranking.rank <= 2)) == {3, 70}
    assert ranking.suspected[[3, 70]].all() and ranking.suspected.sum() <= 4

