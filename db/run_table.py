"""The Runs table: every run with its newest val/test metrics, for the Runs page and `cxr runs`."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import func, select

from db.models import Dataset, Epoch, Evaluation, Run, RunMetric
from db.runs import ENSEMBLE_ARCH
from db.session import session_scope

METRIC_COLUMNS = ("accuracy", "roc_auc", "f1", "sensitivity", "specificity", "ece")


@dataclass(frozen=True)
class RunsSignature:
    """What runs_signature() counts: equal signatures, same Runs table."""

    runs: int
    newest_run: int | None
    completed: int
    failed: int
    running: int
    newest_epoch: int | None
    newest_evaluation: int | None
    completed_evaluations: int
    newest_metric: int | None


def runs_signature() -> RunsSignature:
    """A cheap fingerprint of everything run_records() shows: it changes when a run is added,
    changes status or records an epoch, and when an evaluation or metric row is written. One
    round trip of index-only aggregates, so a cache of the Runs table can be checked per
    request instead of rebuilding 1,000 rows."""
    def scalar(statement):  # noqa: ANN001, ANN202
        return statement.scalar_subquery()

    query = select(
        scalar(select(func.count(Run.id))), scalar(select(func.max(Run.id))),
        scalar(select(func.count(Run.id)).where(Run.status == "completed")),
        scalar(select(func.count(Run.id)).where(Run.status == "failed")),
        scalar(select(func.count(Run.id)).where(Run.status == "running")),
        scalar(select(func.max(Epoch.id))), scalar(select(func.max(Evaluation.id))),
        scalar(select(func.count(Evaluation.id)).where(Evaluation.status == "completed")),
        scalar(select(func.max(RunMetric.id))))
    with session_scope() as session:
        return RunsSignature(*session.execute(query).one())


def runs_table(run_ids: list[int] | None = None) -> pd.DataFrame:
    """One row per run: identity, config, status, timings, and val/test metrics at the run's
    operating point."""
    return pd.DataFrame.from_records(run_records(run_ids))


def run_records(run_ids: list[int] | None = None) -> list[dict]:
    """runs_table() as plain dicts (None where a value is missing), in run id order.

    Plain column selects (no ORM objects), and no DataFrame: the dashboard's runs table sends
    1,000 runs per request as records, and a DataFrame round trip cost more than the SQL.
    """
    query = (select(Run.id, Run.name, Run.arch, Run.status, Dataset.name, Dataset.synthetic,
                    Run.config, Run.seed, Run.best_epoch, Run.started_at, Run.finished_at,
                    Run.threshold, Run.failure_reason, Run.threshold_rule, Run.temperature,
                    Run.health_warning)
             .outerjoin(Dataset, Dataset.id == Run.dataset_id).order_by(Run.id))
    metric_query = (select(Evaluation.run_id, Evaluation.split, Evaluation.id,
                           RunMetric.threshold_rule,
                           *[getattr(RunMetric, column) for column in METRIC_COLUMNS],
                           Evaluation.ece_uncalibrated)
                    .join(Run, Run.id == Evaluation.run_id)
                    .join(RunMetric, (RunMetric.evaluation_id == Evaluation.id)
                          & (RunMetric.threshold_rule == Run.threshold_rule))
                    .where(Evaluation.status == "completed", Evaluation.split.in_(("val", "test")))
                    .order_by(Evaluation.id))
    if run_ids is not None:
        query = query.where(Run.id.in_(run_ids))
        metric_query = metric_query.where(Evaluation.run_id.in_(run_ids))
    with session_scope() as session:
        runs = session.execute(query).all()
        metric_rows = session.execute(metric_query).all()
    # Newest completed evaluation per (run, split), at the run's operating point.
    chosen = {(row[0], row[1]): row for row in metric_rows}  # ordered by evaluation id
    records = []
    for (run_id, name, arch, status, dataset, synthetic, config, seed, best_epoch, started,
         finished, threshold, failure, rule, temperature, warning) in runs:
        config = config or {}
        record = {
            "run_id": run_id, "name": name, "arch": arch, "status": status,
            "is_ensemble": arch == ENSEMBLE_ARCH, "members": ensemble_members_text(config),
            "recipe": config.get("recipe"), "tta": bool(config.get("tta")),
            "threshold_rule": rule, "temperature": temperature,
            "dataset": dataset, "synthetic": bool(synthetic),
            "image_size": config.get("image_size"), "batch_size": config.get("batch_size"),
            "schedule": config.get("schedule"), "seed": seed, "epochs": config.get("epochs"),
            "best_epoch": best_epoch,
            "duration_s": (finished - started).total_seconds() if finished and started
            else None,
            "threshold": threshold, "failure_reason": failure,
            "health_warning": warning, "health": health_badge(warning),
        }
        for split in ("val", "test"):
            row = chosen.get((run_id, split))
            for offset, column in enumerate(METRIC_COLUMNS):
                record[f"{split}_{column}"] = row[4 + offset] if row else None
            record[f"{split}_ece_uncalibrated"] = row[4 + len(METRIC_COLUMNS)] if row else None
            record[f"{split}_evaluation_id"] = row[2] if row else None
        records.append(record)
    return records


def ensemble_members_text(config: dict) -> str | None:
    """"#3 resnet18 + #4 small_cnn (prob)" for an ensemble's config, else None."""
    members = config.get("members")
    if not members:
        return None
    archs = config.get("member_archs") or [""] * len(members)
    parts = [f"#{member} {arch}".strip() for member, arch in zip(members, archs, strict=False)]
    return " + ".join(parts) + f" ({config.get('combine', 'prob')})"


def health_badge(warning: str | None) -> str | None:
    """"⚠ constant predictions" for a run's health warning (its words before the colon)."""
    return f"⚠ {warning.partition(':')[0]}" if warning else None


@dataclass(frozen=True)
class EvaluationTiming:
    split: str
    seconds: float | None
    n_images: int


@dataclass(frozen=True)
class RunTiming:
    """Where a run's wall time went (bench/bench_train.py's end-to-end report)."""

    status: str
    device: str
    train_seconds: float
    images_per_second: float | None  # mean over its epochs
    evaluations: list[EvaluationTiming]  # by split


def run_timing(run_id: int) -> RunTiming:
    with session_scope() as session:
        run = session.get(Run, run_id)
        evaluations = session.execute(
            select(Evaluation.split, Evaluation.seconds, Evaluation.n_images)
            .where(Evaluation.run_id == run_id).order_by(Evaluation.split)).all()
        rate = session.scalar(select(func.avg(Epoch.images_per_second))
                              .where(Epoch.run_id == run_id))
        return RunTiming(run.status, run.device, run.train_seconds or 0.0, rate,
                         [EvaluationTiming(*row) for row in evaluations])
