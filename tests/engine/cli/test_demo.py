"""`cxr demo --no-serve` with no dataset at hand: CI exports CXR_DATA, so without this test
the synthetic path (and its "synthetic" labels) would never run there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, cxr_environment


def test_demo_without_a_dataset_trains_on_labelled_synthetic_data(tmp_path: Path) -> None:
    from db import run_table, runs
    from db.datasets import datasets

    with cxr_environment(tmp_path / "home") as home:
        env = {key: value for key, value in os.environ.items() if key != "CXR_DATA"}
        result = subprocess.run(
            [sys.executable, "-m", "engine.cli", "demo", "--no-serve", "--epochs", "1",
             "--images-per-class", "24"], cwd=REPO, env=env, capture_output=True, text=True,
            timeout=900)
        assert result.returncode == 0, result.stderr[-2000:]
        demo_data = home / "demo-data"
        assert (f"generating synthetic demo data in {demo_data} (not medical images)"
                in result.stdout)
        assert "ingested 48 files (0 skipped)" in result.stdout
        assert sorted(path.name for path in demo_data.iterdir() if path.is_dir()) == [
            "NORMAL", "PNEUMONIA"]
        [dataset] = datasets()
        assert dataset.synthetic and Path(dataset.root) == demo_data.resolve()
        assert dataset.n_ok == 48
        records = run_table.run_records()
        assert [(r["name"], r["status"]) for r in records] == [
            ("demo-small_cnn", "completed"), ("demo-resnet18", "completed")]
        assert all(record["synthetic"] for record in records)  # the Runs page's SYNTHETIC
        assert all(runs.get_run(record["run_id"]).synthetic for record in records)
        assert "dashboard:" not in result.stdout  # --no-serve: nothing served
