"""The evaluations aggregate: an evaluation's lifecycle, its predictions and metric rows, and
the reads of one evaluation (arrays, ROC, metrics, the CAM files of a prediction)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import numpy as np
import pandas as pd
from sqlalchemy import case, delete, func, select, update
from sqlalchemy.orm import Session

from db.attention import aggregate_attention
from db.models import Evaluation, Prediction, RunMetric
from db.session import database_url, session_scope


class MetricValues(Protocol):
    """engine.evaluation.metrics.BinaryMetrics, as this module needs it."""

    def as_dict(self) -> dict: ...


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
    """A prediction to store (the write side); the dashboard reads db.gallery.PredictionView."""

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
    # distance / the run's threshold (engine/evaluation/typicality.py)
    typicality: float | None = None
    outside_population: bool | None = None
    # the measured lung mask's polygons (engine/explain/lungmask.py)
    lung_outline: dict | None = None


def _prediction_dicts(evaluation_id: int, rows: list[PredictionRow]) -> list[dict]:
    return [{"evaluation_id": evaluation_id, "image_id": r.image_id,
             "probability": r.probability, "predicted_label": r.predicted_label,
             "true_label": r.true_label, "correct": r.predicted_label == r.true_label,
             "cam_path": r.cam_path, "cam_raw_path": r.cam_raw_path,
             "border_share": _finite(r.border_share), "lung_share": _finite(r.lung_share),
             "peak_in_lung": r.peak_in_lung, "lesion_share": _finite(r.lesion_share),
             "lesion_hit": r.lesion_hit, "typicality": _finite(r.typicality),
             "outside_population": r.outside_population, "lung_outline": r.lung_outline}
            for r in rows]


def insert_predictions(evaluation_id: int, rows: list[PredictionRow]) -> None:
    """One rank's share of a distributed evaluation, in one transaction."""
    if rows:
        with session_scope(write=True) as session:
            session.execute(Prediction.__table__.insert(),
                            _prediction_dicts(evaluation_id, rows))


def delete_predictions(evaluation_id: int) -> None:
    with session_scope(write=True) as session:
        session.execute(delete(Prediction).where(Prediction.evaluation_id == evaluation_id))


@dataclass(frozen=True, eq=False)
class ScoredLabels:
    """P(pneumonia) and the true label of each prediction of one evaluation, as arrays."""

    probability: np.ndarray
    true_label: np.ndarray


def _scored_labels(rows: list) -> ScoredLabels:
    probability = np.fromiter((row[0] for row in rows), dtype=float, count=len(rows))
    labels = np.fromiter((row[1] for row in rows), dtype=int, count=len(rows))
    return ScoredLabels(probability, labels)


def evaluation_rows(evaluation_id: int) -> ScoredLabels:
    """Every prediction's probability and true label, by image id (what the ranks stored)."""
    with session_scope() as session:
        rows = session.execute(select(Prediction.probability, Prediction.true_label)
                               .where(Prediction.evaluation_id == evaluation_id)
                               .order_by(Prediction.image_id)).all()
    return _scored_labels(rows)


def complete_evaluation(evaluation_id: int, rows: list[PredictionRow],
                        metrics: dict[str, MetricValues], roc: dict | None,
                        seconds: float, attention_seconds: float | None = None,
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
        evaluation.attention_seconds = attention_seconds
        evaluation.ece_uncalibrated = ece_uncalibrated
        evaluation.outside_share = _outside_share(session, evaluation_id)
        session.flush()
        evaluation.attention = aggregate_attention(session, evaluation_id)


@dataclass(frozen=True)
class OutsideShare:
    share: float | None  # of the images flagged outside the training population
    n_images: int


def outside_share(evaluation_id: int) -> OutsideShare:
    """How many of an evaluation's images were flagged outside the training population."""
    with session_scope() as session:
        evaluation = session.get(Evaluation, evaluation_id)
        return OutsideShare(evaluation.outside_share, evaluation.n_images)


def _outside_share(session: Session, evaluation_id: int) -> float | None:
    """Share of the evaluation's images flagged outside the training population."""
    flagged = func.sum(case((Prediction.outside_population.is_(True), 1), else_=0))
    checked, outside = session.execute(
        select(func.count(Prediction.outside_population), flagged)
        .where(Prediction.evaluation_id == evaluation_id)).one()
    return float(outside) / checked if checked else None


def _finite(value: float | None) -> float | None:
    """NaN (a CAM with no energy) is stored as NULL: PostgreSQL and SQLite disagree on NaN."""
    return None if value is None or value != value else float(value)


def evaluation_id_for(run_id: int, split: str, shift: str | None = None) -> int | None:
    """The newest completed evaluation of `split` for a run; with `shift`, of val under it."""
    where = ([Evaluation.split == "val-shift", Evaluation.shift == shift] if shift
             else [Evaluation.split == split])
    query = (select(Evaluation.id).where(Evaluation.run_id == run_id, *where,
                                         Evaluation.status == "completed")
             .order_by(Evaluation.id.desc()).limit(1))
    with session_scope() as session:
        return session.scalar(query)


def evaluation_splits(run_id: int) -> list[str]:
    query = (select(Evaluation.split).where(Evaluation.run_id == run_id,
                                            Evaluation.status == "completed").distinct())
    with session_scope() as session:
        found = set(session.scalars(query).all())
    return [split for split in ("val", "test", "external") if split in found]


@lru_cache(maxsize=256)
def _evaluation_arrays(url: str, evaluation_id: int) -> ScoredLabels:
    query = (select(Prediction.probability, Prediction.true_label)
             .where(Prediction.evaluation_id == evaluation_id))
    with session_scope(url=url) as session:
        rows = session.execute(query).all()
    scored = _scored_labels(rows)
    scored.probability.flags.writeable = False
    scored.true_label.flags.writeable = False
    return scored


def evaluation_arrays(evaluation_id: int) -> ScoredLabels:
    """P(pneumonia) and true label of every prediction of one evaluation, read-only, cached.

    A completed evaluation never changes, so the arrays are cached per (database, evaluation);
    the read is a covering scan of ix_predictions_eval_label_prob.
    """
    return _evaluation_arrays(database_url(), evaluation_id)


def evaluation_roc(evaluation_id: int) -> dict | None:
    with session_scope() as session:
        return session.scalar(select(Evaluation.roc_curve).where(Evaluation.id == evaluation_id))


def evaluation_metrics(evaluation_id: int) -> pd.DataFrame:
    with session_scope() as session:
        rows = session.scalars(select(RunMetric).where(
            RunMetric.evaluation_id == evaluation_id).order_by(RunMetric.id)).all()
        return pd.DataFrame.from_records([
            {column.name: getattr(row, column.name) for column in RunMetric.__table__.columns}
            for row in rows])


def paired_predictions(evaluation_a: int, evaluation_b: int) -> pd.DataFrame:
    """Images both evaluations scored: true label, each side's probability and lung share."""
    frames = []
    for suffix, evaluation_id in (("a", evaluation_a), ("b", evaluation_b)):
        query = (select(Prediction.image_id, Prediction.true_label, Prediction.probability,
                        Prediction.id, Prediction.lung_share)
                 .where(Prediction.evaluation_id == evaluation_id))
        with session_scope() as session:
            frames.append(pd.DataFrame(session.execute(query).all(), columns=[
                "image_id", "true_label", f"probability_{suffix}", f"prediction_id_{suffix}",
                f"lung_share_{suffix}"]))
    return frames[0].merge(frames[1].drop(columns="true_label"), on="image_id").sort_values(
        "image_id", ignore_index=True)


def prediction_cam_path(prediction_id: int) -> str | None:
    with session_scope() as session:
        return session.scalar(select(Prediction.cam_path).where(Prediction.id == prediction_id))


def store_road_scores(evaluation_id: int, scores: dict[int, float]) -> None:
    """prediction id -> ROAD score, and the evaluation's attention pre-aggregate again."""
    with session_scope(write=True) as session:
        for prediction_id, value in scores.items():
            session.execute(update(Prediction).where(Prediction.id == prediction_id)
                            .values(road_score=value))
        session.flush()
        session.get(Evaluation, evaluation_id).attention = aggregate_attention(
            session, evaluation_id)
