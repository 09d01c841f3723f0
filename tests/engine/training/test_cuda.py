"""The GPU as a first-class device: the recipe, evaluation with Grad-CAM, scoring and ROAD on
CUDA, checked against the same work on the CPU. Skipped where PyTorch sees no GPU.

Run on a GPU machine (see README "GPU"): `python -m pytest -q
tests/engine/training/test_cuda.py`, or `bash bench/gpu_check.sh`, which runs this module and
then the CUDA bench.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from sqlalchemy import select

from db import runs
from db.models import Epoch, Evaluation, Prediction, Run, RunMetric
from db.session import artifacts_root, session_scope
from engine.data.pixels import augment, load_gray, to_input, tta_batches
from tests.conftest import copy_subset, cxr_environment

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA GPU (see README: GPU)")


@pytest.fixture(scope="module")
def recipe_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The best recipe (TTA, EMA, calibration), 2 epochs on 40 real images per class, trained
    once on CUDA and once on the CPU, in one store (so on one patient split)."""
    from engine.training.recipes import recipe_settings
    from engine.training.train import TrainConfig, main

    data = copy_subset(tmp_path_factory.mktemp("cuda-subset"), per_class=40)
    with cxr_environment(tmp_path_factory.mktemp("cuda-home")) as home:
        settings = {**recipe_settings("best"), "epochs": 2, "data": str(data)}
        runs = {device: main(TrainConfig(**settings, device=device, name=f"recipe-{device}"))
                for device in ("cuda", "cpu")}
        yield {"home": home, "runs": runs, "data": data}


def _rows(run_id: int) -> dict:
    """What must not depend on the device: which rows exist, with which statuses."""
    with session_scope() as session:
        run = session.get(Run, run_id)
        evaluations = session.scalars(select(Evaluation).where(
            Evaluation.run_id == run_id).order_by(Evaluation.split)).all()
        return {
            "status": run.status,
            "epochs": session.scalar(select(Epoch.epoch).where(Epoch.run_id == run_id)
                                     .order_by(Epoch.epoch.desc()).limit(1)),
            "evaluations": [(e.split, e.status, e.n_images) for e in evaluations],
            "images": {e.split: sorted(session.scalars(select(Prediction.image_id).where(
                Prediction.evaluation_id == e.id))) for e in evaluations},
            "metrics": {e.split: sorted(session.scalars(select(RunMetric.threshold_rule).where(
                RunMetric.evaluation_id == e.id))) for e in evaluations},
        }


def test_recipe_on_cuda_leaves_the_rows_of_the_cpu_run(recipe_runs: dict) -> None:
    on_gpu, on_cpu = (_rows(recipe_runs["runs"][device]) for device in ("cuda", "cpu"))
    assert on_gpu["status"] == "completed", on_gpu
    assert on_gpu == on_cpu
    assert [split for split, *_ in on_gpu["evaluations"]] == ["test", "val"]
    assert all(on_gpu["images"][split] for split in ("val", "test"))
    with session_scope() as session:
        gpu_run = session.get(Run, recipe_runs["runs"]["cuda"])
        assert gpu_run.device.startswith("cuda") and gpu_run.temperature > 0
        for split in ("val", "test"):
            evaluation = session.scalar(select(Evaluation).where(
                Evaluation.run_id == gpu_run.id, Evaluation.split == split))
            metrics = session.scalars(select(RunMetric).where(
                RunMetric.evaluation_id == evaluation.id)).all()
            assert metrics and all(m.accuracy is not None for m in metrics)
            cam_paths = session.scalars(select(Prediction.cam_raw_path).where(
                Prediction.evaluation_id == evaluation.id)).all()
            assert all((artifacts_root() / path).is_file() for path in cam_paths)


def test_one_checkpoint_gives_the_same_probabilities_on_cpu_and_cuda(
        recipe_runs: dict) -> None:
    from engine.inference.predictor import predictor_for

    run = runs.get_run(recipe_runs["runs"]["cuda"])
    paths = sorted((recipe_runs["data"] / "PNEUMONIA").iterdir())[:6]
    paths += sorted((recipe_runs["data"] / "NORMAL").iterdir())[:6]
    size = int(run.config["image_size"])
    batch = np.stack([load_gray(path, size) for path in paths])
    answers = {}
    for device in ("cpu", "cuda"):
        predictor = predictor_for(run, device)
        try:
            answers[device] = predictor.explain(batch)
        finally:
            predictor.close()
    np.testing.assert_allclose(answers["cuda"][0], answers["cpu"][0], atol=1e-4, rtol=0)
    assert np.abs(answers["cuda"][1] - answers["cpu"][1]).max() < 1e-2  # the CAMs too


def test_live_scoring_runs_on_the_gpu_with_the_cpu_answer(recipe_runs: dict) -> None:
    from engine.inference.scoring import get_scorer

    run_id = recipe_runs["runs"]["cuda"]
    path = next((recipe_runs["data"] / "PNEUMONIA").iterdir())
    gpu, cpu = get_scorer(run_id, "cuda"), get_scorer(run_id, "cpu")
    assert gpu is not cpu
    model = gpu._explainer._explainer.model  # ModelPredictor -> CamExplainer
    assert next(model.parameters()).is_cuda
    assert abs(gpu.score(path).probability - cpu.score(path).probability) < 1e-4


def test_shift_check_and_road_on_cuda(recipe_runs: dict) -> None:
    from engine.evaluation.evaluate import evaluate_run
    from engine.explain.road import road_scores

    run_id = recipe_runs["runs"]["cuda"]
    evaluation_id = evaluate_run(run_id, shift="rotate-8", device="cuda")
    with session_scope() as session:
        assert session.get(Evaluation, evaluation_id).status == "completed"
    n, mean = road_scores(run_id, "val", sample=4, device="cuda")
    assert n == 4 and np.isfinite(mean)


def test_augment_and_tta_stay_on_the_gpu() -> None:
    grays = np.random.default_rng(0).integers(0, 256, (4, 64, 64), dtype=np.uint8)
    batch = to_input(torch.from_numpy(grays).cuda())
    generator = torch.Generator().manual_seed(0)
    on_gpu = augment(batch, generator)
    on_cpu = augment(batch.cpu(), torch.Generator().manual_seed(0))
    assert on_gpu.is_cuda
    torch.testing.assert_close(on_gpu.cpu(), on_cpu, atol=1e-4, rtol=1e-4)
    for view in tta_batches(batch):
        assert view.is_cuda


def test_cli_device_cuda_is_recorded(tmp_path: Path, recipe_runs: dict) -> None:
    from engine.cli import main as cxr

    with cxr_environment(tmp_path / "home"):
        assert cxr(["train", "--arch", "small_cnn", "--data", str(recipe_runs["data"]),
                    "--epochs", "1", "--image-size", "64", "--device", "cuda"]) == 0
        with session_scope() as session:
            run = session.scalars(select(Run)).one()
            assert run.status == "completed" and run.device.startswith("cuda")


def test_resume_on_cuda(tmp_path: Path, recipe_runs: dict) -> None:
    # The last checkpoint is loaded onto the GPU; the generators' states must go back to the CPU.
    from engine.training.train import TrainConfig, main

    with cxr_environment(tmp_path / "home"):
        run_id = main(TrainConfig(arch="small_cnn", data=str(recipe_runs["data"]), epochs=1,
                                  image_size=64, batch_size=16, device="cuda"))
        runs.finish_run(run_id, "failed", "stopped by the test")
        assert main(TrainConfig(), resume_run_id=run_id) == run_id
        assert runs.get_run(run_id).status == "completed"
