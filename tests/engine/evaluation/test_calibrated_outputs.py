"""Every stored or shown probability is the run's calibration of its model's raw logit.

The shared fixture runs end with temperature 1 and offset 0, where a missing calibration step
changes nothing. Here two trained runs get a calibration far from the identity, and the raw
logits are computed independently (the checkpoint's plain forward pass): evaluation rows,
`cxr score`'s output and stored upload scores, the dashboard's gallery and detail reads, and an
ensemble's combination (whose CAM is the mean of its members') must all be
sigmoid((logit - offset) / T).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import cxr_environment

TEMPERATURE, OFFSET = 1.8, -0.7  # far enough from (1, 0) that no probability stays put
ENSEMBLE_TEMPERATURE, ENSEMBLE_OFFSET = 0.6, 0.4


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory: pytest.TempPathFactory, real_subset: Path) -> Iterator[dict]:
    """Two small real-image runs (64 and 48 px) with a non-trivial calibration set on each."""
    from db import runs
    from engine.training.train import TrainConfig, main

    with cxr_environment(tmp_path_factory.mktemp("calibrated-home")) as home:
        run_ids = [main(TrainConfig(arch="small_cnn", data=str(real_subset), epochs=1,
                                    image_size=size, batch_size=16, seed=seed,
                                    name=f"calibrated-{size}", device="cpu"))
                   for seed, size in ((0, 64), (1, 48))]
        for run_id in run_ids:
            runs.update_run(run_id, temperature=TEMPERATURE, logit_offset=OFFSET)
        yield {"home": home, "run_ids": run_ids}


def _expected(raw_logits: np.ndarray, temperature: float = TEMPERATURE,
              offset: float = OFFSET) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(np.asarray(raw_logits, dtype=np.float64) - offset)
                               / temperature))


def _raw_logits(run_id: int, grays: np.ndarray) -> np.ndarray:
    """The checkpoint's raw logits for (N, size, size) uint8 images: no calibration at all."""
    from db import runs
    from engine.inference.predictor import load_run_model, predict_logits

    model = load_run_model(runs.get_run(run_id), "cpu")
    return predict_logits(model, torch.from_numpy(np.ascontiguousarray(grays)),
                          torch.device("cpu"))


def _val(run_id: int) -> tuple[list, np.ndarray]:
    from db import runs
    from db.splits import split_images
    from engine.data.pixels import load_store

    run = runs.get_run(run_id)
    images = split_images(run.split_id, "val")
    store, failures = load_store([image.path for image in images], int(run.config["image_size"]))
    assert not failures
    return images, np.asarray(store)


def test_evaluation_rows_and_dashboard_reads_are_calibrated(calibrated: dict) -> None:
    from db import gallery, run_table, runs
    from engine.evaluation.evaluate import evaluate_run
    from engine.evaluation.metrics import expected_calibration_error

    run_id = calibrated["run_ids"][0]
    run = runs.get_run(run_id)
    assert (run.temperature, run.logit_offset) == (TEMPERATURE, OFFSET)
    evaluation_id = evaluate_run(run_id, "val", device="cpu")
    images, store = _val(run_id)
    raw = dict(zip([image.image_id for image in images], _raw_logits(run_id, store),
                   strict=True))
    rows = gallery.evaluation_predictions(evaluation_id)
    assert len(rows) == len(images) > 0
    stored = np.array([row.probability for row in rows])
    expected = _expected([raw[row.image_id] for row in rows])
    np.testing.assert_allclose(stored, expected, atol=2e-5)
    assert np.abs(expected - _expected([raw[row.image_id] for row in rows], 1.0, 0.0)).max() \
        > 0.05  # the calibration moves these probabilities: the check can see it missing
    assert [row.predicted_label for row in rows] == [int(p >= run.threshold) for p in stored]
    # The uncalibrated ECE the evaluation stores is that of sigmoid(raw logit).
    labels = np.array([row.true_label for row in rows])
    ece_raw = expected_calibration_error(labels, _expected([raw[r.image_id] for r in rows],
                                                           1.0, 0.0))
    record = run_table.run_records([run_id])[0]  # the Runs table: this latest val evaluation
    assert record["val_ece_uncalibrated"] == pytest.approx(ece_raw, abs=1e-6)
    assert record["val_ece"] == pytest.approx(expected_calibration_error(labels, expected),
                                              abs=1e-4)
    # What the Errors page shows: its gallery tiles and its detail panel read these values.
    shown = {}
    for cell in gallery.GALLERY_CELLS:
        shown.update({item.image_id: item.probability for item in gallery.cell_images(
            evaluation_id, cell, run.threshold, limit=10_000).items})
    for row in rows:
        assert shown.get(row.image_id, row.probability) == pytest.approx(row.probability)
        detail = gallery.prediction_for(evaluation_id, row.image_id)
        assert detail.probability == pytest.approx(_expected(raw[row.image_id]), abs=2e-5)


def test_cxr_score_and_stored_upload_scores_are_calibrated(calibrated: dict) -> None:
    from db import uploads
    from engine.cli.score import score_files
    from engine.data.decode import decode_file
    from engine.data.pixels import array_to_gray

    run_id = calibrated["run_ids"][0]
    images, _ = _val(run_id)
    files = [image.path for image in images[:4]]
    printed = io.StringIO()
    with redirect_stdout(printed):
        assert score_files(files, [run_id], as_json=True) == 0
    results = json.loads(printed.getvalue())["results"]
    grays = np.stack([array_to_gray(decode_file(file), 64) for file in files])
    expected = _expected(_raw_logits(run_id, grays))
    shown = np.array([result["scores"][0]["probability"] for result in results])
    np.testing.assert_allclose(shown, expected, atol=2e-5)  # printed to 6 decimals
    stored = {scored.upload.id: score.probability for scored in uploads.upload_history()
              for score in scored.scores if score.run_id == run_id}
    np.testing.assert_allclose([stored[result["upload_id"]] for result in results], expected,
                               atol=2e-5)


def test_ensemble_is_calibrated_and_its_cam_is_the_members_mean(calibrated: dict) -> None:
    import cv2

    from db import runs
    from engine.evaluation.ensembles import create_ensemble
    from engine.inference.predictor import EnsemblePredictor, ModelPredictor

    members = calibrated["run_ids"]
    ensemble_id = create_ensemble(members, combine="prob", device="cpu")
    runs.update_run(ensemble_id, temperature=ENSEMBLE_TEMPERATURE, logit_offset=ENSEMBLE_OFFSET)
    ensemble = runs.get_run(ensemble_id)
    assert ensemble.config["image_size"] == 64
    _, store = _val(members[0])
    batch = store[:6]
    member_probabilities, member_cams = [], []
    for member in members:
        size = int(runs.get_run(member).config["image_size"])
        resized = np.stack([cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
                            for image in batch]) if size != 64 else batch
        member_probabilities.append(_expected(_raw_logits(member, resized)))
        predictor = ModelPredictor(runs.get_run(member), "cpu")
        try:
            cams = predictor.explain(resized)[1]
        finally:
            predictor.close()
        member_cams.append(np.stack([cv2.resize(cam, (64, 64), interpolation=cv2.INTER_LINEAR)
                                     for cam in cams]) if size != 64 else cams)
    mean = np.mean(member_probabilities, axis=0)
    combined_logit = np.log(mean / (1 - mean))
    predictor = EnsemblePredictor(ensemble, "cpu")
    try:
        probability, cams = predictor.explain(batch)
    finally:
        predictor.close()
    np.testing.assert_allclose(probability, _expected(
        combined_logit, ENSEMBLE_TEMPERATURE, ENSEMBLE_OFFSET), atol=2e-5)
    np.testing.assert_allclose(cams, np.mean(member_cams, axis=0), atol=1e-5)
    assert np.abs(member_cams[0] - member_cams[1]).max() > 0.01  # a mean, not a copy of one


def test_evaluate_shift_all_prints_one_row_per_shift_with_its_metrics(
        calibrated: dict, capsys: pytest.CaptureFixture) -> None:
    """`cxr evaluate RUN --shift all`: the clean val row, then one row per shift, each with the
    metrics of its own stored evaluation at the run's threshold, and its AUC drop."""
    from sklearn.metrics import roc_auc_score

    from db import gallery, runs
    from engine.cli import main
    from engine.evaluation.evaluate import evaluate_run
    from engine.evaluation.perturbations import SHIFTS

    run_id = calibrated["run_ids"][1]
    run = runs.get_run(run_id)
    # The clean row is the latest val evaluation: one under the calibration set above, so an
    # unshifted evaluation would reproduce it exactly.
    clean_id = evaluate_run(run_id, "val", device="cpu")
    capsys.readouterr()
    assert main(["evaluate", str(run_id), "--shift", "all", "--device", "cpu"]) == 0
    lines = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["shift",
                                                                         "evaluation_id"])
    assert lines[start - 1] == (f"run {run_id}: val under acquisition shifts (at the run's "
                                "operating threshold)")
    header = lines[start].split()
    rows = [dict(zip(header, line.split(), strict=True)) for line in lines[start + 1:]]
    assert [row["shift"] for row in rows] == ["none", *SHIFTS]
    assert int(rows[0]["evaluation_id"]) == clean_id
    clean = {r.image_id: r.probability for r in gallery.evaluation_predictions(
        int(rows[0]["evaluation_id"]))}
    for row in rows:
        stored = gallery.evaluation_predictions(int(row["evaluation_id"]))
        probability = np.array([r.probability for r in stored])
        labels = np.array([r.true_label for r in stored])
        predicted = (probability >= run.threshold).astype(int)
        assert sorted(r.image_id for r in stored) == sorted(clean)
        if row["shift"] != "none":  # the shift was applied: the scores moved
            assert not np.allclose(probability, [clean[r.image_id] for r in stored], atol=1e-6)
        expected = {"auc": roc_auc_score(labels, probability),
                    "accuracy": np.mean(predicted == labels),
                    "sensitivity": predicted[labels == 1].mean(),
                    "specificity": 1 - predicted[labels == 0].mean(),
                    "auc_drop": float(rows[0]["auc"]) - float(row["auc"])}
        for column, value in expected.items():
            assert float(row[column]) == pytest.approx(value, abs=1.1e-3), (row, column)
