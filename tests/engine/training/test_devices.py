"""Devices on a machine without a GPU: --device on every command, and tensors built where
their inputs live (dtype and device), so nothing CPU-made meets a CUDA batch.

tests/engine/training/test_cuda.py checks the same paths on a real GPU where there is one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from sqlalchemy import func, select

from db.models import Evaluation, Run
from db.session import session_scope
from engine.cli import main as cxr
from engine.data.pixels import affine, augment, to_input, tta_batches
from engine.errors import UserError
from engine.evaluation.perturbations import SHIFTS, apply_shift
from engine.training.devices import resolve_device
from tests.conftest import cxr_environment

cpu_only = pytest.mark.skipif(torch.cuda.is_available(),
                              reason="checks what a machine without CUDA answers")


@pytest.fixture(scope="module")
def device_home(tmp_path_factory: pytest.TempPathFactory, real_subset: Path) -> Iterator[dict]:
    """Two small runs trained through `cxr train --device cpu` in a store of their own."""
    with cxr_environment(tmp_path_factory.mktemp("device-home")) as home:
        for seed in (0, 1):
            code = cxr(["train", "--arch", "small_cnn", "--data", str(real_subset), "--epochs",
                        "1", "--image-size", "64", "--batch-size", "16", "--seed", str(seed),
                        "--device", "cpu"])
            assert code == 0
        with session_scope() as session:
            run_ids = list(session.scalars(select(Run.id).order_by(Run.id)))
        image = next((real_subset / "NORMAL").iterdir())
        yield {"home": home, "run_ids": run_ids, "image": image, "data": real_subset}


def _counts() -> tuple[int, int]:
    with session_scope() as session:
        return (session.scalar(select(func.count()).select_from(Run)),
                session.scalar(select(func.count()).select_from(Evaluation)))


@cpu_only
def test_auto_resolves_to_the_cpu_and_names_are_checked(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CXR_DEVICE", raising=False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(None) == torch.device("cpu")
    monkeypatch.setenv("CXR_DEVICE", "cpu")
    assert resolve_device(None) == torch.device("cpu")
    with pytest.raises(UserError, match="unknown --device 'tpu'"):
        resolve_device("tpu")
    with pytest.raises(UserError, match="no CUDA GPU"):
        resolve_device("cuda:1")


def test_device_cpu_is_accepted_everywhere_and_recorded(
        device_home: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXR_DEVICE", "auto")  # restored afterwards; `cxr score` sets it
    first, second = device_home["run_ids"][:2]
    with session_scope() as session:
        for run_id in (first, second):
            run = session.get(Run, run_id)
            assert run.status == "completed" and run.device == "cpu"
            assert run.config["device"] == "cpu"
    assert cxr(["evaluate", str(first), "--device", "cpu"]) == 0
    assert cxr(["road", str(first), "--sample", "3", "--device", "cpu"]) == 0
    assert cxr(["score", str(device_home["image"]), "--run", str(first),
                "--device", "cpu"]) == 0
    assert cxr(["ensemble", str(first), str(second), "--device", "cpu"]) == 0
    with session_scope() as session:
        ensemble = session.scalars(select(Run).where(Run.arch == "ensemble")).one()
        assert ensemble.status == "completed" and ensemble.device == "cpu"
        statuses = session.scalars(select(Evaluation.status).where(
            Evaluation.run_id.in_([first, ensemble.id]))).all()
    assert statuses and set(statuses) == {"completed"}


@cpu_only
@pytest.mark.parametrize("command", ["train", "evaluate", "ensemble", "score", "road", "serve"])
def test_cuda_without_a_gpu_is_a_clear_user_error(
        device_home: dict, command: str, capsys: pytest.CaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXR_DEVICE", "auto")
    first, second = (str(run_id) for run_id in device_home["run_ids"][:2])
    args = {
        "train": ["train", "--arch", "small_cnn", "--data", str(device_home["data"])],
        "evaluate": ["evaluate", first],
        "ensemble": ["ensemble", first, second],
        "score": ["score", str(device_home["image"]), "--run", first],
        "road": ["road", first, "--sample", "2"],
        "serve": ["serve", "--port", "1"],
    }[command]
    before = _counts()
    capsys.readouterr()
    assert cxr([*args, "--device", "cuda"]) == 2
    error = capsys.readouterr().err
    assert "--device cuda was asked for, but PyTorch sees no CUDA GPU" in error
    assert "--device cpu" in error and "Traceback" not in error
    assert _counts() == before  # no run and no evaluation was started


@cpu_only
def test_scorer_is_kept_per_device(device_home: dict,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.inference.scoring import get_scorer

    monkeypatch.delenv("CXR_DEVICE", raising=False)
    run_id = device_home["run_ids"][0]
    scorer = get_scorer(run_id, "cpu")
    assert get_scorer(run_id) is scorer  # auto is the CPU here: the same warm model
    score = scorer.score(device_home["image"])
    assert 0.0 <= score.probability <= 1.0
    with pytest.raises(UserError, match="no CUDA GPU"):
        get_scorer(run_id, "cuda")


def _batch(dtype: torch.dtype = torch.float32) -> torch.Tensor:
    grays = np.random.default_rng(0).integers(0, 256, (3, 32, 32), dtype=np.uint8)
    return to_input(grays).to(dtype)


def test_tta_and_augment_follow_a_float64_batch() -> None:
    batch = _batch()
    views32, views64 = tta_batches(batch), tta_batches(batch.double())
    assert all(view.dtype == torch.float64 for view in views64)
    for view32, view64 in zip(views32, views64, strict=True):
        torch.testing.assert_close(view64.float(), view32, atol=1e-4, rtol=0)
    # The jitter is drawn on the CPU generator, so one seed gives one augmentation.
    out32 = augment(batch, torch.Generator().manual_seed(3))
    out64 = augment(batch.double(), torch.Generator().manual_seed(3))
    assert out64.dtype == torch.float64
    torch.testing.assert_close(out64.float(), out32, atol=1e-4, rtol=0)


def test_affine_builds_theta_and_grid_on_the_batch_device() -> None:
    # The meta device stands in for a GPU: a CPU-made theta or grid meeting it raises, as a
    # CPU grid meeting a CUDA batch did in `cxr train --recipe best --device cuda`.
    batch = _batch().to("meta")
    for view in tta_batches(batch):
        assert view.device.type == "meta" and view.shape == batch.shape
    params = [torch.zeros(3), torch.ones(3), torch.full((3,), 0.05), torch.zeros(3)]
    assert affine(batch, *params).device.type == "meta"
    assert augment(batch, torch.Generator().manual_seed(0)).device.type == "meta"


@pytest.mark.parametrize("name", sorted(SHIFTS))
def test_shift_keeps_a_tensor_device_and_dtype(name: str) -> None:
    grays = np.random.default_rng(1).integers(0, 256, (2, 48, 48), dtype=np.uint8)
    expected = apply_shift(name, grays, seed=3)
    shifted = apply_shift(name, torch.from_numpy(grays).double(), seed=3)
    assert isinstance(shifted, torch.Tensor) and shifted.dtype == torch.float64
    assert shifted.device == torch.device("cpu")
    np.testing.assert_array_equal(shifted.numpy(), expected)
    as_floats = apply_shift(name, grays.astype(np.float64), seed=3)
    assert as_floats.dtype == np.float64
    np.testing.assert_array_equal(as_floats, expected)
