"""Run health: a run that never trained is never `completed`, epochs record their
optimiser steps, and a run whose val predictions are constant is flagged (end of training,
Runs page, `cxr runs`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from db.models import Epoch, Evaluation, Run
from db.session import session_scope
from engine.errors import UserError
from tests.conftest import copy_subset


def _run_row(run_id: int) -> dict:
    with session_scope() as session:
        run = session.get(Run, run_id)
        return {"status": run.status, "failure_reason": run.failure_reason,
                "health_warning": run.health_warning}


def test_train_split_smaller_than_one_batch_fails_naming_count_and_batch_size(
        cxr_home: Path, tmp_path: Path) -> None:
    from db.splits import split_images
    from engine.training.train import TrainConfig, main

    data = copy_subset(tmp_path / "tiny", per_class=8)
    with pytest.raises(UserError) as raised:
        main(TrainConfig(arch="small_cnn", data=str(data), epochs=1, image_size=64,
                         batch_size=32))
    with session_scope() as session:
        run = session.scalars(select(Run)).one()
        run_id, split_id = run.id, run.split_id
        epochs = session.scalars(select(Epoch).where(Epoch.run_id == run_id)).all()
        evaluations = session.scalars(select(Evaluation)).all()
    n_train = len(split_images(split_id, "train"))
    assert 0 < n_train < 32
    message = str(raised.value)
    assert f"has {n_train} image(s)" in message and "one batch of 32" in message
    assert "--batch-size" in message
    row = _run_row(run_id)
    assert row["status"] == "failed" and f"has {n_train} image(s)" in row["failure_reason"]
    assert not epochs and not evaluations  # nothing trained, nothing explained


def test_epochs_record_their_optimiser_steps(trained_home: dict) -> None:
    from db.splits import split_images

    with session_scope() as session:
        for run_id in trained_home["run_ids"]:
            run = session.get(Run, run_id)
            n_train = len(split_images(run.split_id, "train"))
            batch_size = run.config["batch_size"]
            steps = session.scalars(select(Epoch.steps).where(Epoch.run_id == run_id)
                                    .order_by(Epoch.epoch)).all()
            assert steps == [n_train // batch_size] * run.config["epochs"]
            assert steps[0] > 0


def test_a_run_with_zero_optimiser_steps_is_never_completed(cxr_home: Path,
                                                            real_subset: Path) -> None:
    """The last guard, for any path that reaches calibration without a step (a resume, say)."""
    from db import runs
    from engine.data.discover import dataset_for_root
    from engine.data.splits import get_or_create_split
    from engine.evaluation import health

    dataset_id = dataset_for_root(str(real_subset))
    run_id = runs.create_run("no-steps", "small_cnn", {}, 0, "cpu", dataset_id,
                             get_or_create_split(dataset_id, 0), code_version="test")
    epoch = {"train_loss": 0.7, "val_loss": 0.7, "val_accuracy": 0.5, "val_auc": 0.5,
             "learning_rate": 1e-5, "seconds": 0.1, "images_per_second": 0.0}
    runs.record_epoch(run_id, epoch=1, steps=0, **epoch)
    with pytest.raises(UserError, match="took no optimiser step"):
        health.review_training(run_id, np.array([0.2, 0.9]), np.array([0, 1]))
    runs.record_epoch(run_id, epoch=2, steps=3, **epoch)
    assert health.review_training(run_id, np.array([0.2, 0.9]), np.array([0, 1])) is None


def test_constant_val_predictions_are_flagged_everywhere(cxr_home: Path, real_subset: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    """efficientnet_b0 after one short epoch on few images: its features collapse in eval mode
    and every val image gets the same probability (the issue's case, at 64 px)."""
    from dashboard.runs_table import health_tooltips, table_records
    from db.evaluations import evaluation_arrays, evaluation_id_for
    from db.run_table import run_records
    from engine.cli import main as cxr
    from engine.training.train import TrainConfig, main

    collapsed = main(TrainConfig(arch="efficientnet_b0", data=str(real_subset), epochs=1,
                                 image_size=64, batch_size=16, name="collapsed"))
    healthy = main(TrainConfig(arch="small_cnn", data=str(real_subset), epochs=2,
                               image_size=64, batch_size=16, name="healthy"))
    trained = capsys.readouterr().out
    scored = evaluation_arrays(evaluation_id_for(collapsed, "val"))
    probability = scored.probability
    assert np.ptp(probability) < 1e-3  # the collapse itself: one probability for every image

    row = _run_row(collapsed)
    assert row["status"] == "completed"  # it ran; its predictions are what is wrong
    assert row["health_warning"].startswith("constant predictions:")
    assert f"warning: run {collapsed}: constant predictions" in trained
    assert _run_row(healthy)["health_warning"] is None

    assert cxr(["runs", "--split", "val"]) == 0
    listed = capsys.readouterr().out
    collapsed_line = next(line for line in listed.splitlines()
                          if line.split()[:1] == [str(collapsed)])
    healthy_line = next(line for line in listed.splitlines()
                        if line.split()[:1] == [str(healthy)])
    assert "⚠ constant predictions" in collapsed_line and "⚠" not in healthy_line
    assert f"run {collapsed} warning: constant predictions:" in listed

    rows = {row["id"]: row for row in table_records(run_records(), "val")}
    assert rows[collapsed]["health"] == "⚠ constant predictions"
    assert rows[healthy]["health"] is None
    tooltips = health_tooltips(list(rows.values()))
    assert tooltips[list(rows).index(collapsed)]["health"]["value"] == row["health_warning"]
    assert tooltips[list(rows).index(healthy)] == {}
