"""The engine's writes to the results database: run lifecycle, epochs, evaluations."""

from __future__ import annotations

import os
import socket
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sqlalchemy import case, delete, func, select

from db.attention import aggregate_attention
from db.models import Epoch, Evaluation, Prediction, Run, RunMetric, utcnow
from db.session import session_scope
from engine.errors import UserError
from engine.metrics import BinaryMetrics


@lru_cache(maxsize=1)
def code_version() -> str:
    here = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(here), "describe", "--always", "--dirty"],
                             capture_output=True, text=True, timeout=5, check=True)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        from importlib.metadata import PackageNotFoundError, version
        try:
            return version("cxr-lens")
        except PackageNotFoundError:
            return "unknown"


@dataclass(frozen=True)
class RunInfo:
    id: int
    name: str
    arch: str
    status: str
    config: dict
    seed: int
    dataset_id: int | None
    split_id: int | None
    checkpoint_path: str | None
    last_checkpoint_path: str | None
    threshold: float
    threshold_rule: str
    temperature: float = 1.0
    logit_offset: float = 0.0
    typicality_path: str | None = None  # relative to the artifacts root (engine/typicality.py)


def create_run(name: str, arch: str, config: dict, seed: int, device: str,
               dataset_id: int, split_id: int) -> int:
    with session_scope(write=True) as session:
        run = Run(name=name, arch=arch, config=config, seed=seed, device=device,
                  code_version=code_version(), dataset_id=dataset_id, split_id=split_id,
                  status="queued")
        session.add(run)
        session.flush()
        return run.id


def get_run(run_id: int) -> RunInfo:
    with session_scope() as session:
        run = session.get(Run, run_id)
        if run is None:
            raise UserError(f"run {run_id} does not exist; `cxr runs` lists the runs")
        return RunInfo(run.id, run.name, run.arch, run.status, dict(run.config), run.seed,
                       run.dataset_id, run.split_id, run.checkpoint_path,
                       run.last_checkpoint_path, run.threshold, run.threshold_rule,
                       run.temperature, run.logit_offset, run.typicality_path)


def mark_running(run_id: int) -> None:
    with session_scope(write=True) as session:
        run = session.get(Run, run_id)
        run.status = "running"
        run.failure_reason = None
        run.finished_at = None
        run.started_at = run.started_at or utcnow()
        run.pid = os.getpid()
        run.hostname = socket.gethostname()


def update_run(run_id: int, **fields: object) -> None:
    with session_scope(write=True) as session:
        run = session.get(Run, run_id)
        for key, value in fields.items():
            setattr(run, key, value)


def finish_run(run_id: int, status: str, reason: str | None = None) -> None:
    update_run(run_id, status=status, failure_reason=reason, finished_at=utcnow())


def record_epoch(run_id: int, **values: float) -> None:
    with session_scope(write=True) as session:
        existing = session.scalar(select(Epoch).where(Epoch.run_id == run_id,
                                                      Epoch.epoch == values["epoch"]))
        row = existing or Epoch(run_id=run_id)
        for key, value in values.items():
            setattr(row, key, value)
        session.add(row)


def run_steps(run_id: int) -> int | None:
    """Optimiser steps over the run's epochs; None when an epoch did not record its steps."""
    with session_scope() as session:
        epochs, counted, steps = session.execute(
            select(func.count(Epoch.id), func.count(Epoch.steps),
                   func.coalesce(func.sum(Epoch.steps), 0)).where(Epoch.run_id == run_id)).one()
    return None if counted < epochs else int(steps)


def start_evaluation(run_id: int, split: str, dataset_id: int | None,
                     shift: str | None = None) -> int:
    with session_scope(write=True) as session:
        evaluation = Evaluation(run_id=run_id, split=split, dataset_id=dataset_id,
                                status="running", shift=shift)
        session.add(evaluation)
        session.flush()
        return evaluation.id


def fail_evaluation(evaluation_id: int, reason: str) -> None:
    with session_scope(write=True) as session:
        evaluation = session.get(Evaluation, evaluation_id)
        evaluation.status = "failed"
        evaluation.failure_reason = reason


@dataclass(frozen=True)
class PredictionRow:
    image_id: int
    probability: float
    predicted_label: int
    true_label: int
    cam_path: str | None
    cam_raw_path: str | None
    border_share: float | None = None
    lung_share: float | None = None
    peak_in_lung: bool | None = None
    lesion_share: float | None = None
    lesion_hit: bool | None = None
    typicality: float | None = None  # distance / the run's threshold (engine/typicality.py)
    outside_population: bool | None = None


def _prediction_dicts(evaluation_id: int, rows: list[PredictionRow]) -> list[dict]:
    return [{"evaluation_id": evaluation_id, "image_id": r.image_id,
             "probability": r.probability, "predicted_label": r.predicted_label,
             "true_label": r.true_label, "correct": r.predicted_label == r.true_label,
             "cam_path": r.cam_path, "cam_raw_path": r.cam_raw_path,
             "border_share": _finite(r.border_share), "lung_share": _finite(r.lung_share),
             "peak_in_lung": r.peak_in_lung, "lesion_share": _finite(r.lesion_share),
             "lesion_hit": r.lesion_hit, "typicality": _finite(r.typicality),
             "outside_population": r.outside_population} for r in rows]


def insert_predictions(evaluation_id: int, rows: list[PredictionRow]) -> None:
    """One rank's share of a distributed evaluation, in one transaction."""
    if rows:
        with session_scope(write=True) as session:
            session.execute(Prediction.__table__.insert(),
                            _prediction_dicts(evaluation_id, rows))


def delete_predictions(evaluation_id: int) -> None:
    with session_scope(write=True) as session:
        session.execute(delete(Prediction).where(Prediction.evaluation_id == evaluation_id))


def evaluation_rows(evaluation_id: int) -> list[PredictionRow]:
    with session_scope() as session:
        rows = session.execute(select(
            Prediction.image_id, Prediction.probability, Prediction.predicted_label,
            Prediction.true_label).where(Prediction.evaluation_id == evaluation_id)
            .order_by(Prediction.image_id)).all()
    return [PredictionRow(r.image_id, r.probability, r.predicted_label, r.true_label, None,
                          None) for r in rows]


def complete_evaluation(evaluation_id: int, rows: list[PredictionRow],
                        metrics: dict[str, BinaryMetrics], roc: dict | None,
                        seconds: float, cam_metrics_seconds: float | None = None,
                        ece_uncalibrated: float | None = None) -> None:
    """Write every prediction and metric of an evaluation in one transaction."""
    with session_scope(write=True) as session:
        if rows:
            session.execute(Prediction.__table__.insert(), _prediction_dicts(evaluation_id, rows))
        total = session.scalar(select(func.count(Prediction.id)).where(
            Prediction.evaluation_id == evaluation_id))
        for rule, values in metrics.items():
            session.add(RunMetric(evaluation_id=evaluation_id, threshold_rule=rule,
                                  **values.as_dict()))
        evaluation = session.get(Evaluation, evaluation_id)
        evaluation.status = "completed"
        evaluation.n_images = total
        evaluation.seconds = seconds
        evaluation.roc_curve = roc
        evaluation.cam_metrics_seconds = cam_metrics_seconds
        evaluation.ece_uncalibrated = ece_uncalibrated
        evaluation.outside_share = _outside_share(session, evaluation_id)
        session.flush()
        evaluation.attention = aggregate_attention(session, evaluation_id)


def _outside_share(session, evaluation_id: int) -> float | None:  # noqa: ANN001
    """Share of the evaluation's images flagged outside the training population."""
    flagged = func.sum(case((Prediction.outside_population.is_(True), 1), else_=0))
    checked, outside = session.execute(
        select(func.count(Prediction.outside_population), flagged)
        .where(Prediction.evaluation_id == evaluation_id)).one()
    return float(outside) / checked if checked else None


def _finite(value: float | None) -> float | None:
    """NaN (a CAM with no energy) is stored as NULL: PostgreSQL and SQLite disagree on NaN."""
    return None if value is None or value != value else float(value)
