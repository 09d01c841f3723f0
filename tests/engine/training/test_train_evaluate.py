"""Training and evaluation on real images: complete runs, CAM files, determinism, crashes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from pytorch_grad_cam import GradCAM
from sqlalchemy import func, select

from db.models import Epoch, Evaluation, Prediction, Run, RunMetric
from db.session import artifacts_root, session_scope
from db.splits import split_images
from engine.data.pixels import to_input
from engine.errors import UserError
from engine.evaluation import evaluate as evaluate_module
from engine.explain.gradcam import CamExplainer, PredictedClassTarget
from engine.models import REGISTRY, cam_target_layer, create_model
from engine.training.train import TrainConfig, main


def _config(data: Path, **overrides) -> TrainConfig:
    values = dict(arch="small_cnn", data=str(data), epochs=1, image_size=64, batch_size=16,
                  seed=0)
    values.update(overrides)
    return TrainConfig(**values)


def _metrics(run_id: int) -> list[tuple]:
    with session_scope() as session:
        rows = session.execute(
            select(Evaluation.split, RunMetric.threshold_rule, RunMetric.accuracy,
                   RunMetric.roc_auc, RunMetric.brier)
            .join(RunMetric, RunMetric.evaluation_id == Evaluation.id)
            .where(Evaluation.run_id == run_id).order_by(Evaluation.split,
                                                         RunMetric.threshold_rule)).all()
    return [tuple(row) for row in rows]


def test_small_cnn_epoch_leaves_a_complete_run(cxr_home: Path, real_subset: Path) -> None:
    run_id = main(_config(real_subset))
    with session_scope() as session:
        run = session.get(Run, run_id)
        assert run.status == "completed" and run.best_epoch == 1
        assert run.config["arch"] == "small_cnn" and run.device == "cpu"
        assert run.code_version and run.checkpoint_path
        epochs = session.scalars(select(Epoch).where(Epoch.run_id == run_id)).all()
        assert len(epochs) == 1 and epochs[0].images_per_second > 0
        assert epochs[0].val_auc is not None and epochs[0].learning_rate > 0
        for split in ("val", "test"):
            evaluation = session.scalar(select(Evaluation).where(
                Evaluation.run_id == run_id, Evaluation.split == split))
            assert evaluation.status == "completed"
            predictions = session.scalars(select(Prediction).where(
                Prediction.evaluation_id == evaluation.id)).all()
            expected = {image.image_id for image in split_images(run.split_id, split)}
            assert {p.image_id for p in predictions} == expected
            for prediction in predictions:
                assert 0.0 <= prediction.probability <= 1.0
                assert prediction.predicted_label == int(prediction.probability >= run.threshold)
                assert prediction.correct == (prediction.predicted_label == prediction.true_label)
                assert (artifacts_root() / prediction.cam_path).is_file()
                raw = np.load(artifacts_root() / prediction.cam_raw_path)
                assert raw.shape == (64, 64) and 0 <= raw.min() and raw.max() <= 1.001
            rules = {m.threshold_rule for m in session.scalars(select(RunMetric).where(
                RunMetric.evaluation_id == evaluation.id))}
            # One vocabulary: each metric row names the rule whose threshold it is at.
            assert rules == {"fixed:0.5", "youden"} and run.threshold_rule == "youden"


def test_same_seed_gives_same_metrics(cxr_home: Path, real_subset: Path) -> None:
    first = main(_config(real_subset, seed=5))
    second = main(_config(real_subset, seed=5))
    assert _metrics(first) == _metrics(second)
    assert len(_metrics(first)) == 4


def test_resnet18_one_epoch_at_64px(cxr_home: Path, real_subset: Path) -> None:
    """The stored rows are the checkpoint's calibrated answers, and the stored metrics are
    scikit-learn's over those rows."""
    from sklearn.metrics import accuracy_score, f1_score, recall_score, roc_auc_score

    from db import evaluations, gallery, runs
    from engine.data.pixels import load_store
    from engine.evaluation.calibration import Calibration
    from engine.inference.predictor import load_run_model, predict_logits

    run_id = main(_config(real_subset, arch="resnet18", batch_size=32))
    run = runs.get_run(run_id)
    assert run.status == "completed"
    images = split_images(run.split_id, "test")
    evaluation_id = evaluations.evaluation_id_for(run_id, "test")
    rows = {row.image_id: row for row in gallery.evaluation_predictions(evaluation_id)}
    assert sorted(rows) == sorted(image.image_id for image in images)
    store, _ = load_store([image.path for image in images], 64)
    logits = predict_logits(load_run_model(run, "cpu"), torch.from_numpy(np.asarray(store)),
                            torch.device("cpu"))
    expected = Calibration(run.logit_offset, run.temperature).apply(logits)
    probability = np.array([rows[image.image_id].probability for image in images])
    np.testing.assert_allclose(probability, expected, atol=2e-5)
    labels = np.array([image.label for image in images])
    assert [rows[image.image_id].true_label for image in images] == labels.tolist()
    metrics = evaluations.evaluation_metrics(evaluation_id).set_index("threshold_rule")
    assert set(metrics.index) == {"fixed:0.5", run.threshold_rule}
    for rule, threshold in (("fixed:0.5", 0.5), (run.threshold_rule, run.threshold)):
        stored, predicted = metrics.loc[rule], (probability >= threshold).astype(int)
        if rule == run.threshold_rule:
            assert [rows[i.image_id].predicted_label for i in images] == predicted.tolist()
        assert stored["threshold"] == pytest.approx(threshold)
        assert stored["accuracy"] == pytest.approx(accuracy_score(labels, predicted))
        assert stored["sensitivity"] == pytest.approx(recall_score(labels, predicted))
        assert stored["specificity"] == pytest.approx(recall_score(1 - labels, 1 - predicted))
        assert stored["f1"] == pytest.approx(f1_score(labels, predicted, zero_division=0))
        assert stored["roc_auc"] == pytest.approx(roc_auc_score(labels, probability), abs=1e-6)


def test_early_stopping_keeps_the_best_checkpoint(cxr_home: Path, real_subset: Path) -> None:
    """Training stops once val AUC has not improved for `patience` epochs, and the checkpoint
    kept is the best epoch's: its val AUC is the best one recorded, not the last epoch's."""
    from sklearn.metrics import roc_auc_score

    from db import runs
    from engine.data.pixels import load_store
    from engine.inference.predictor import load_run_model, predict

    run_id = main(_config(real_subset, epochs=8, patience=2, max_lr=3e-3, seed=1))
    run = runs.get_run(run_id)
    aucs = runs.epochs_for([run_id]).sort_values("epoch")["val_auc"].tolist()
    best = int(np.argmax(aucs)) + 1  # the first epoch reaching the highest val AUC
    with session_scope() as session:
        assert session.get(Run, run_id).best_epoch == best
    assert all(auc <= aucs[best - 1] for auc in aucs[best:])
    assert len(aucs) < 8, aucs  # it stopped early here ...
    assert len(aucs) == best + 2  # ... exactly `patience` epochs after the best
    assert aucs[-1] < aucs[best - 1]  # the last weights differ from the best
    assert run.checkpoint_path.endswith("best.pt")
    images = split_images(run.split_id, "val")
    store, _ = load_store([image.path for image in images], 64)
    probability = predict(load_run_model(run, "cpu"), torch.from_numpy(np.asarray(store)),
                          torch.device("cpu"))
    assert roc_auc_score([image.label for image in images], probability) == pytest.approx(
        aucs[best - 1], abs=1e-9)


def test_bf16_channels_last_run_keeps_fp32_weights(cxr_home: Path, real_subset: Path) -> None:
    """The speed levers change how the step runs, not what is stored: the checkpoint is fp32 and
    loads into a fresh default-layout model, and the run's config records the levers."""
    run_id = main(_config(real_subset, arch="resnet18", batch_size=32, precision="bf16",
                          channels_last=True))
    with session_scope() as session:
        run = session.get(Run, run_id)
        assert run.status == "completed"
        assert run.config["precision"] == "bf16" and run.config["channels_last"] is True
        checkpoint = artifacts_root() / run.checkpoint_path
        assert session.scalar(select(func.count(Prediction.id))) > 0
    state = torch.load(checkpoint, weights_only=True)
    floats = [t for t in state.values() if t.is_floating_point()]
    assert floats and all(t.dtype == torch.float32 for t in floats)
    create_model("resnet18").load_state_dict(state)


def test_unknown_precision_names_the_value() -> None:
    with pytest.raises(UserError, match="--precision 'fp8'; use one of fp32, bf16"):
        TrainConfig(precision="fp8").validate()


def test_crash_during_evaluation_leaves_run_failed_without_rows(
        cxr_home: Path, real_subset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    original = evaluate_module.CamWriter.submit

    def failing_submit(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        calls["n"] += 1
        if calls["n"] == 9:  # half-way through the val split (18 images)
            raise OSError(28, "No space left on device")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(evaluate_module.CamWriter, "submit", failing_submit)
    with pytest.raises(OSError):
        main(_config(real_subset))
    with session_scope() as session:
        run = session.scalar(select(Run))
        assert run.status == "failed" and "No space left" in run.failure_reason
        assert session.scalar(select(func.count(Prediction.id))) == 0
        assert session.scalar(select(func.count(RunMetric.id))) == 0
        assert [e.status for e in session.scalars(select(Evaluation))] == ["failed"]


@pytest.mark.parametrize("arch", ["small_cnn", "resnet18"])
def test_fast_cam_equals_library_cam(arch: str) -> None:
    """Freezing parameters to shorten the backward pass must not change the CAM."""
    torch.manual_seed(0)
    model = create_model(arch).eval()
    batch = torch.randint(0, 255, (4, 64, 64), dtype=torch.uint8)
    reference_model = create_model(arch).eval()
    reference_model.load_state_dict(model.state_dict())
    with GradCAM(model=reference_model,
                 target_layers=[cam_target_layer(reference_model, arch)]) as cam:
        reference = cam(input_tensor=to_input(batch), targets=[PredictedClassTarget(0.0)] * 4)
        reference_logits = cam.outputs.detach()[:, 0]
    with CamExplainer(model, arch, threshold=0.5) as explainer:
        probability, cams = explainer.explain(batch)
    np.testing.assert_allclose(cams, reference, atol=1e-5)
    np.testing.assert_allclose(probability, torch.sigmoid(reference_logits).numpy(), atol=1e-6)


def test_registry_names_cam_layers() -> None:
    assert REGISTRY["resnet18"].cam_layer == "layer4"
    assert REGISTRY["resnet34"].cam_layer == "layer4"
    assert REGISTRY["efficientnet_b0"].cam_layer == "features.8"
    model = create_model("efficientnet_b0")
    assert model(torch.zeros(2, 1, 64, 64)).shape == (2, 1)
