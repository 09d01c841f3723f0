"""The read side: plain dataclasses and DataFrames, never ORM rows."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select

from db.models import Dataset, Evaluation, Run, RunMetric
from db.session import session_scope

METRIC_COLUMNS = ("accuracy", "roc_auc", "f1", "sensitivity", "specificity", "ece")


def latest_evaluation_ids(run_ids: list[int] | None = None) -> dict[tuple[int, str], int]:
    """(run_id, split) -> id of the newest completed evaluation of that split."""
    query = select(Evaluation.run_id, Evaluation.split, Evaluation.id).where(
        Evaluation.status == "completed")
    if run_ids is not None:
        query = query.where(Evaluation.run_id.in_(run_ids))
    with session_scope() as session:
        rows = session.execute(query.order_by(Evaluation.id)).all()
    return {(row.run_id, row.split): row.id for row in rows}


def runs_table(run_ids: list[int] | None = None, threshold_rule: str = "youden") -> pd.DataFrame:
    """One row per run: identity, config, status, timings, and val/test metrics."""
    query = select(Run, Dataset.name.label("dataset"), Dataset.synthetic).outerjoin(
        Dataset, Dataset.id == Run.dataset_id).order_by(Run.id)
    if run_ids is not None:
        query = query.where(Run.id.in_(run_ids))
    with session_scope() as session:
        records = []
        for run, dataset, synthetic in session.execute(query).all():
            duration = ((run.finished_at - run.started_at).total_seconds()
                        if run.finished_at and run.started_at else None)
            records.append({
                "run_id": run.id, "name": run.name, "arch": run.arch, "status": run.status,
                "dataset": dataset, "synthetic": bool(synthetic),
                "image_size": run.config.get("image_size"),
                "batch_size": run.config.get("batch_size"),
                "schedule": run.config.get("schedule"), "seed": run.seed,
                "epochs": run.config.get("epochs"), "best_epoch": run.best_epoch,
                "duration_s": duration, "threshold": run.threshold,
                "failure_reason": run.failure_reason,
            })
        evaluations = latest_evaluation_ids(run_ids)
        metrics = {}
        if evaluations:
            rows = session.scalars(select(RunMetric).where(
                RunMetric.evaluation_id.in_(list(evaluations.values())))).all()
            by_eval = {}
            for row in rows:
                # Prefer the run's own threshold rule; fall back to 0.5.
                if row.threshold_rule == threshold_rule or row.evaluation_id not in by_eval:
                    by_eval[row.evaluation_id] = row
            for (run_id, split), evaluation_id in evaluations.items():
                if evaluation_id in by_eval:
                    metrics[(run_id, split)] = by_eval[evaluation_id]
    for record in records:
        for split in ("val", "test"):
            row = metrics.get((record["run_id"], split))
            for column in METRIC_COLUMNS:
                record[f"{split}_{column}"] = getattr(row, column) if row else None
    return pd.DataFrame.from_records(records)


def evaluation_metrics(evaluation_id: int) -> pd.DataFrame:
    with session_scope() as session:
        rows = session.scalars(select(RunMetric).where(
            RunMetric.evaluation_id == evaluation_id).order_by(RunMetric.id)).all()
        return pd.DataFrame.from_records([
            {column.name: getattr(row, column.name) for column in RunMetric.__table__.columns}
            for row in rows])
