"""Typicality: fitted at the end of training, stored with the run, checked
for every evaluated and every scored image, and filterable in the Errors gallery."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from db import evaluations, gallery, runs
from db.models import Dataset, Evaluation, Prediction, Run
from db.models import Image as ImageRow
from db.session import artifacts_root, session_scope
from db.splits import split_images
from engine.data.pixels import load_store
from engine.evaluation.typicality import TypicalityStats, combine_members, extract_features
from engine.inference.predictor import load_run_model


def _val_evaluation(run_id: int) -> int:
    evaluation_id = evaluations.evaluation_id_for(run_id, "val")
    assert evaluation_id is not None
    return evaluation_id


def test_stats_fitted_at_end_of_training_and_stored_with_the_run(trained_home: dict) -> None:
    for run_id in trained_home["run_ids"]:
        run = runs.get_run(run_id)
        with session_scope() as session:
            threshold = session.get(Run, run_id).typicality_threshold
        assert run.typicality_path == f"runs/{run_id}/typicality.npz"
        path = artifacts_root() / run.typicality_path
        with np.load(path, allow_pickle=False) as stored:
            assert set(stored.files) == {"mean", "precision", "threshold"}
        stats = TypicalityStats.load(path)
        assert stats.threshold == pytest.approx(threshold) and threshold > 0
        assert stats.mean.shape == (128,) and stats.precision.shape == (128, 128)  # small_cnn
        # The threshold is the 99th percentile of the val images' distances.
        val = split_images(run.split_id, "val")
        store, failures = load_store([image.path for image in val], run.config["image_size"])
        assert not failures
        model = load_run_model(run, "cpu")
        distances = stats.distance(extract_features(model, run.arch, store,
                                                    next(model.parameters()).device))
        assert threshold == pytest.approx(float(np.percentile(distances, 99)), rel=1e-4)


def test_evaluation_fills_every_prediction_and_the_outside_share(trained_home: dict) -> None:
    for run_id in trained_home["run_ids"]:
        evaluation_id = _val_evaluation(run_id)
        with session_scope() as session:
            rows = session.execute(select(Prediction.typicality, Prediction.outside_population)
                                   .where(Prediction.evaluation_id == evaluation_id)).all()
            share = session.get(Evaluation, evaluation_id).outside_share
        assert rows and all(row.typicality is not None for row in rows)
        assert all(row.outside_population == (row.typicality > 1.0) for row in rows)
        flagged = sum(row.outside_population for row in rows)
        assert share == pytest.approx(flagged / len(rows))
        # 99th percentile on val: the most distant val image, and no more than ~1%, is over.
        assert 1 <= flagged <= max(1, round(0.01 * len(rows)) + 1)


def test_scoring_gives_the_evaluation_typicality_and_flags_noise(trained_home: dict) -> None:
    from engine.inference.scoring import get_scorer
    from engine.inference.uploads import score_upload_bytes

    run_id = trained_home["run_ids"][0]
    evaluation_id = _val_evaluation(run_id)
    with session_scope() as session:
        prediction = session.scalars(select(Prediction).where(
            Prediction.evaluation_id == evaluation_id).order_by(Prediction.typicality.desc())
        ).first()
        image = session.get(ImageRow, prediction.image_id)
        path = f"{session.get(Dataset, image.dataset_id).root}/{image.rel_path}"
        evaluated = prediction.typicality
    score = get_scorer(run_id).score(path)
    assert score.typicality == pytest.approx(evaluated, rel=1e-4)
    assert score.outside_population is True  # the val image that sets the threshold's top

    buffer = io.BytesIO()
    noise = np.random.default_rng(3).integers(0, 256, (512, 512), dtype=np.uint8)
    Image.fromarray(noise).save(buffer, format="PNG")
    result = score_upload_bytes(buffer.getvalue(), "noise.png", [run_id])
    assert result.scores[0].outside_population is True
    assert result.scores[0].typicality > 1.0 and not result.forced


def test_ensemble_typicality_is_the_largest_member_ratio() -> None:
    first, second = np.array([0.5, 2.0, 0.9]), np.array([1.5, 0.1, 0.8])
    combined = combine_members([first, None, second])
    assert combined.tolist() == [1.5, 2.0, 0.9]
    assert combine_members([None, None]) is None


def test_gallery_filter_splits_every_cell_by_population(trained_home: dict) -> None:
    run_id = trained_home["run_ids"][0]
    evaluation_id = _val_evaluation(run_id)
    threshold = runs.get_run(run_id).threshold
    outside_ids, inside_ids, all_ids = set(), set(), set()
    for cell in gallery.CELLS:
        for population, found in (("outside", outside_ids), ("inside", inside_ids),
                                  ("all", all_ids)):
            page = gallery.cell_images(evaluation_id, cell, threshold, limit=1000,
                                       population=population)
            total, items = page.total, page.items
            assert total == len(items)
            if population != "all":
                assert all(item.outside_population == (population == "outside")
                           for item in items)
            found.update(item.image_id for item in items)
    assert outside_ids and inside_ids
    assert outside_ids | inside_ids == all_ids and not outside_ids & inside_ids
    with pytest.raises(ValueError, match="unknown population"):
        gallery.cell_images(evaluation_id, "tp", threshold, population="elsewhere")
