"""`cxr train --resume` only picks up runs `cxr train` made; a dead crossval or calibrate run
says what to run again instead (no TypeError traceback, no `--resume` advice)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from db import runs
from db.migrate import fail_orphaned_runs
from db.models import Run
from db.session import session_scope
from engine.errors import UserError

CONFIGS = {
    "crossval": {"arch": "small_cnn", "epochs": 1, "origin": "crossval", "folds": 3},
    "calibrate": {"arch": "small_cnn", "epochs": 1, "calibrated_from": 1,
                  "calibrated_on": "site", "site_calibration_method": "offset"},
}


def _reason(run_id: int) -> str:
    with session_scope() as session:
        return session.get(Run, run_id).failure_reason


def _orphan(config: dict) -> int:
    run_id = runs.create_run("derived", "small_cnn", config, 0, "cpu", None, None,
                             code_version="test")
    with session_scope(write=True) as session:
        run = session.get(Run, run_id)
        run.status, run.hostname, run.pid = "running", socket.gethostname(), 2 ** 22 + 7
    return run_id


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_derived_run_is_not_resumed(cxr_home: Path, kind: str) -> None:
    from engine.training.train import TrainConfig, main

    run_id = _orphan(CONFIGS[kind])
    assert fail_orphaned_runs() == [run_id]
    reason = _reason(run_id)
    assert "--resume" not in reason and f"cxr {kind}" in reason
    with pytest.raises(UserError, match=f"run {run_id}: .*cxr {kind}"):
        main(TrainConfig(), resume_run_id=run_id)


def test_train_run_keeps_resume_advice(cxr_home: Path) -> None:
    run_id = _orphan({"arch": "small_cnn", "epochs": 2, "nproc": 1})
    fail_orphaned_runs()
    assert f"cxr train --resume {run_id}" in _reason(run_id)
