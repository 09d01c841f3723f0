"""Crashes and restarts: SIGKILL during training and evaluation, resume, rollbacks, bad
checkpoints. A run that did not finish is never shown as completed."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from sqlalchemy import func, select, text

from db import runs
from db.migrate import fail_orphaned_runs
from db.models import Epoch, Evaluation, Prediction, Run, RunMetric
from db.session import get_engine, session_scope
from engine.errors import UserError
from engine.models import CheckpointError, create_model, load_checkpoint
from tests.conftest import copy_subset


def _spawn_train(home: Path, data: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "CXR_HOME": str(home), "CXR_NO_PROGRESS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "train", "--data", str(data), *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for(condition: Callable[[], bool], process: subprocess.Popen,
              timeout: float = 240.0, interval: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process.poll() is not None:
            raise AssertionError(f"process ended first:\n{process.stdout.read()}")
        time.sleep(interval)
    process.kill()
    raise AssertionError("condition not reached in time")


def _scalar(statement) -> object:  # noqa: ANN001
    with session_scope() as session:
        return session.scalar(statement)


def _integrity_ok() -> bool:
    with get_engine().connect() as connection:
        if connection.dialect.name != "sqlite":
            return True
        return connection.execute(text("PRAGMA integrity_check")).scalar() == "ok"


@pytest.fixture(scope="module")
def crash_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_subset(tmp_path_factory.mktemp("crash-data"), per_class=100, seed=3)


def test_sigkill_during_training_then_resume(cxr_home: Path, crash_data: Path) -> None:
    process = _spawn_train(cxr_home, crash_data, "--arch", "small_cnn", "--epochs", "6",
                           "--image-size", "64", "--batch-size", "16", "--patience", "99")
    _wait_for(lambda: (_scalar(select(func.count(Epoch.id))) or 0) >= 2, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    run_id = _scalar(select(Run.id))
    assert _scalar(select(Run.status)) == "running"  # what the dead process left behind
    assert fail_orphaned_runs() == [run_id]  # what the next start does
    with session_scope() as session:
        run = session.get(Run, run_id)
        assert run.status == "failed" and f"process {run.pid}" in run.failure_reason
        assert "--resume" in run.failure_reason
        epochs_before = session.scalar(select(func.count(Epoch.id)))
    assert _integrity_ok()
    last = torch.load(cxr_home / "artifacts" / "runs" / str(run_id) / "last.pt",
                      weights_only=True)
    checkpoint_epoch = int(last["epoch"])
    assert checkpoint_epoch >= 1

    resumed = _spawn_train(cxr_home, crash_data, "--resume", str(run_id))
    output, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, output
    with session_scope() as session:
        run = session.get(Run, run_id)
        assert run.status == "completed" and run.failure_reason is None
        epochs = sorted(session.scalars(select(Epoch.epoch).where(Epoch.run_id == run_id)))
        assert epochs == list(range(1, 7)) and epochs_before >= 2
        assert session.scalar(select(func.count(Prediction.id))) > 0
    # Training continues after the last checkpointed epoch instead of starting again.
    assert f"epoch {checkpoint_epoch}/6" not in output
    assert f"epoch {checkpoint_epoch + 1}/6" in output
    assert _integrity_ok()


def test_sigkill_during_evaluation(cxr_home: Path, crash_data: Path) -> None:
    process = _spawn_train(cxr_home, crash_data, "--arch", "resnet18", "--epochs", "1",
                           "--image-size", "128", "--batch-size", "16")
    _wait_for(lambda: _scalar(select(func.count(Evaluation.id))) == 1, process, interval=0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    fail_orphaned_runs()
    assert _scalar(select(Run.status)) == "failed"
    assert _scalar(select(func.count(Prediction.id))) == 0
    assert _scalar(select(func.count(RunMetric.id))) == 0
    assert _integrity_ok()


def test_exception_while_writing_predictions_rolls_back(
        cxr_home: Path, real_subset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = RunMetric.__init__

    def explode(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        # Predictions are already inserted in this transaction when metrics are added.
        raise RuntimeError("injected failure after the prediction insert")

    monkeypatch.setattr(RunMetric, "__init__", explode)
    from engine.training.train import TrainConfig, main

    with pytest.raises(RuntimeError, match="injected failure"):
        main(TrainConfig(arch="small_cnn", data=str(real_subset), epochs=1, image_size=64,
                         batch_size=16))
    monkeypatch.setattr(RunMetric, "__init__", original)
    assert _scalar(select(Run.status)) == "failed"
    assert _scalar(select(func.count(Prediction.id))) == 0
    assert _scalar(select(Evaluation.status)) == "failed"


class Payload:
    def __reduce__(self):  # noqa: ANN204
        return (os.system, ("touch /tmp/cxr-pwned-by-checkpoint",))


def test_pickle_payload_checkpoint_is_refused(tmp_path: Path) -> None:
    marker = Path("/tmp/cxr-pwned-by-checkpoint")
    marker.unlink(missing_ok=True)
    path = tmp_path / "evil.pt"
    with open(path, "wb") as handle:
        pickle.dump({"weight": Payload()}, handle)
    torch.save({"conv": Payload()}, tmp_path / "evil2.pt")
    for candidate in (path, tmp_path / "evil2.pt"):
        with pytest.raises(CheckpointError, match="refused"):
            load_checkpoint(create_model("small_cnn"), candidate)
    assert not marker.exists()


def test_checkpoint_for_another_architecture(tmp_path: Path) -> None:
    path = tmp_path / "resnet.pt"
    torch.save(create_model("resnet18").state_dict(), path)
    with pytest.raises(CheckpointError, match="does not fit this architecture"):
        load_checkpoint(create_model("small_cnn"), path)
    small = create_model("small_cnn")
    state = small.state_dict()
    state["fc.weight"] = torch.zeros(1, 3)
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="size mismatch"):
        load_checkpoint(create_model("small_cnn"), path)


def test_resume_of_completed_run_is_refused(cxr_home: Path, real_subset: Path) -> None:
    from engine.training.train import TrainConfig, main

    run_id = main(TrainConfig(arch="small_cnn", data=str(real_subset), epochs=1, image_size=64,
                              batch_size=16))
    with pytest.raises(UserError, match="already completed"):
        main(TrainConfig(), resume_run_id=run_id)
    assert runs.get_run(run_id).status == "completed"
