"""Two engine processes writing to one store at once both succeed (BEGIN IMMEDIATE + WAL)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select, text

from db.models import Evaluation, Prediction, Run
from db.session import get_engine, session_scope


def test_two_trainings_write_at_once(cxr_home: Path, real_subset: Path) -> None:
    env = {**os.environ, "CXR_HOME": str(cxr_home), "CXR_NO_PROGRESS": "1"}
    processes = [
        subprocess.Popen([sys.executable, "-m", "engine.cli", "train", "--arch", "small_cnn",
                          "--data", str(real_subset), "--epochs", "2", "--image-size", "64",
                          "--batch-size", "16", "--seed", str(seed)],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for seed in (11, 12)
    ]
    outputs = [process.communicate(timeout=600)[0] for process in processes]
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output
        assert "database is locked" not in output
    with session_scope() as session:
        assert sorted(session.scalars(select(Run.status))) == ["completed", "completed"]
        assert session.scalar(select(func.count(Evaluation.id)).where(
            Evaluation.status == "completed")) == 4
        per_run = session.execute(select(Evaluation.run_id, func.count(Prediction.id))
                                  .join(Prediction, Prediction.evaluation_id == Evaluation.id)
                                  .group_by(Evaluation.run_id)).all()
        assert len(per_run) == 2 and per_run[0][1] == per_run[1][1] > 0
    with get_engine().connect() as connection:
        if connection.dialect.name == "sqlite":
            assert connection.execute(text("PRAGMA integrity_check")).scalar() == "ok"


def test_concurrent_ingest_and_split_of_one_root(cxr_home: Path, tmp_path: Path) -> None:
    """Two writers registering the same new dataset at once: one dataset, one split, no error.

    On PostgreSQL both can see "missing" and insert; the loser's unique violation is retried.
    """
    import threading

    from db.models import Dataset, Split
    from engine.data.discover import ingest
    from engine.data.splits import get_or_create_split
    from tests.conftest import copy_subset

    root = copy_subset(tmp_path / "shared-root", per_class=4)
    barrier = threading.Barrier(4)
    results, errors = [], []

    def register() -> None:
        try:
            barrier.wait()
            dataset_id = ingest(root).dataset_id
            results.append((dataset_id, get_or_create_split(dataset_id, seed=0)))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=register) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(results)) == 1
    with session_scope() as session:
        assert session.scalar(select(func.count(Dataset.id))) == 1
        assert session.scalar(select(func.count(Split.id))) == 1
