"""Read side for attention metrics: run-level summaries of where a model looked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from db.models import Evaluation, Prediction
from db.runs import latest_evaluation_ids
from db.session import database_url, session_scope


@dataclass(frozen=True)
class AttentionSummary:
    group: str  # "all" / "correct" / "wrong"
    n: int
    border_share_mean: float | None
    lung_share_mean: float | None
    lung_share_quartiles: tuple[float, float, float] | None
    peak_in_lung_rate: float | None
    lesion_hit_rate: float | None  # synthetic data only
    lesion_share_mean: float | None
    road_mean: float | None
    road_n: int


def _mean(values: list) -> float | None:
    clean = [float(v) for v in values if v is not None]
    return float(np.mean(clean)) if clean else None


def attention_summary(evaluation_id: int) -> list[AttentionSummary]:
    with session_scope() as session:
        rows = session.execute(select(
            Prediction.correct, Prediction.border_share, Prediction.lung_share,
            Prediction.peak_in_lung, Prediction.lesion_hit, Prediction.lesion_share,
            Prediction.road_score).where(Prediction.evaluation_id == evaluation_id)).all()
    groups = {"all": rows, "correct": [r for r in rows if r.correct],
              "wrong": [r for r in rows if not r.correct]}
    summaries = []
    for name, members in groups.items():
        lung = [r.lung_share for r in members if r.lung_share is not None]
        road = [r.road_score for r in members if r.road_score is not None]
        summaries.append(AttentionSummary(
            group=name, n=len(members),
            border_share_mean=_mean([r.border_share for r in members]),
            lung_share_mean=_mean(lung),
            lung_share_quartiles=tuple(float(q) for q in np.percentile(lung, [25, 50, 75]))
            if lung else None,
            peak_in_lung_rate=_mean([r.peak_in_lung for r in members]),
            lesion_hit_rate=_mean([r.lesion_hit for r in members]),
            lesion_share_mean=_mean([r.lesion_share for r in members]),
            road_mean=_mean(road), road_n=len(road)))
    return summaries


# --- Many runs at once (the dashboard's Runs table) ---------------------------------------------

ATTENTION_COLUMNS = ("cam_border_share", "cam_lung_share", "cam_lung_share_correct",
                     "cam_lung_share_wrong", "cam_peak_in_lung", "cam_peak_in_lung_correct",
                     "cam_peak_in_lung_wrong", "cam_road", "cam_road_n", "cam_lesion_hit")


def _share(column):  # noqa: ANN001, ANN202 - SQL expression in, SQL expression out
    """A share in [0, 1], else NULL: a CAM with no energy stores NaN, which avg() must skip."""
    return case((column.between(0.0, 1.0), column), else_=None)


def _rate(column):  # noqa: ANN001, ANN202
    return case((column.is_(True), 1.0), (column.is_(False), 0.0), else_=None)


def _attention_query(evaluation_id: int):  # noqa: ANN202 - a Select
    return (select(Prediction.correct, func.count(),
                    func.avg(_share(Prediction.border_share)),
                    func.avg(_share(Prediction.lung_share)), func.count(_share(
                        Prediction.lung_share)),
                    func.avg(_rate(Prediction.peak_in_lung)),
                    func.count(_rate(Prediction.peak_in_lung)),
                    func.avg(Prediction.road_score), func.count(Prediction.road_score),
                    func.avg(_rate(Prediction.lesion_hit)),
                    func.count(_share(Prediction.border_share)),
                    func.count(_rate(Prediction.lesion_hit)))
             .where(Prediction.evaluation_id == evaluation_id).group_by(Prediction.correct))


def aggregate_attention(session: Session, evaluation_id: int) -> list[list]:
    """Per (correct) group of one evaluation: n, and the means and counts the figures pool.

    The engine stores this on the evaluation when it writes the predictions (and again after a
    ROAD pass); readers use the stored copy and fall back to this query for older rows.
    """
    return [[bool(row[0]), *(None if value is None else float(value) for value in row[1:])]
            for row in session.execute(_attention_query(evaluation_id)).all()]


# (database url, evaluation id) -> CAM figures. A completed evaluation's attention metrics never
# change, except ROAD scores that `cxr road` adds later; clear_attention_cache() re-reads them.
# Bounded by the evaluations a dashboard worker has shown (one small dict each).
_FIGURES: dict[tuple[str, int], dict] = {}


class AttentionGroup(NamedTuple):
    """One row of aggregate_attention (stored on the evaluation as a JSON list, in this order)."""

    correct: bool
    n: int
    border_share_mean: float | None
    lung_share_mean: float | None
    lung_share_count: float | None
    peak_in_lung_rate: float | None
    peak_in_lung_count: float | None
    road_mean: float | None
    road_count: float | None
    lesion_hit_rate: float | None
    border_share_count: float | None
    lesion_hit_count: float | None


def _pooled(groups: list[AttentionGroup], mean: str, count: str) -> float | None:
    """Mean over groups, weighting each group's `mean` field by its `count` of non-null values."""
    pairs = [(getattr(g, mean), getattr(g, count)) for g in groups
             if getattr(g, mean) is not None and getattr(g, count)]
    total = sum(weight for _, weight in pairs)
    return float(sum(float(value) * weight for value, weight in pairs) / total) if total else None


def _figures(rows: list) -> dict:
    groups = [AttentionGroup(*row) for row in rows]
    by_correct = {bool(group.correct): group for group in groups}
    figures = {
        "cam_border_share": _pooled(groups, "border_share_mean", "border_share_count"),
        "cam_lung_share": _pooled(groups, "lung_share_mean", "lung_share_count"),
        "cam_peak_in_lung": _pooled(groups, "peak_in_lung_rate", "peak_in_lung_count"),
        "cam_road": _pooled(groups, "road_mean", "road_count"),
        "cam_road_n": int(sum(group.road_count or 0 for group in groups)),
        "cam_lesion_hit": _pooled(groups, "lesion_hit_rate", "lesion_hit_count"),
    }
    for name, correct in (("correct", True), ("wrong", False)):
        group = [by_correct[correct]] if correct in by_correct else []
        figures[f"cam_lung_share_{name}"] = _pooled(group, "lung_share_mean",
                                                    "lung_share_count")
        figures[f"cam_peak_in_lung_{name}"] = _pooled(group, "peak_in_lung_rate",
                                                      "peak_in_lung_count")
    return figures


def evaluations_attention(evaluation_ids: list[int]) -> dict[int, dict]:
    """evaluation id -> CAM figures (as evaluation_attention) of many evaluations: their stored
    pre-aggregates in one query, and the aggregate query only for evaluations written before
    the pre-aggregate existed. The answer is built locally, so a concurrent
    clear_attention_cache() (the Runs page's Refresh) never removes a key mid-read."""
    url = database_url()
    found = {e: _FIGURES.get((url, e)) for e in dict.fromkeys(evaluation_ids)}
    missing = [e for e, figures in found.items() if figures is None]
    if missing:
        with session_scope() as session:
            stored = dict(session.execute(select(Evaluation.id, Evaluation.attention).where(
                Evaluation.id.in_(missing))).all())
            for evaluation_id in missing:
                groups = stored.get(evaluation_id)
                if groups is None:
                    groups = aggregate_attention(session, evaluation_id)
                found[evaluation_id] = _figures(groups)
        _FIGURES.update({(url, e): found[e] for e in missing})
    return {e: found[e] for e in evaluation_ids}


def evaluation_attention(evaluation_id: int) -> dict:
    """Run-level CAM figures of one completed evaluation, all and split by correct / wrong.

    Cached per (database, evaluation); treat the dict as read-only.
    """
    return evaluations_attention([evaluation_id])[evaluation_id]


def attention_by_run(run_ids: list[int], split: str) -> dict[int, dict]:
    """run id -> CAM figures of its newest completed evaluation of `split`."""
    evaluations = latest_evaluation_ids(run_ids)
    chosen = {run_id: evaluations[(run_id, split)] for run_id in run_ids
              if (run_id, split) in evaluations}
    figures = evaluations_attention(list(chosen.values()))
    return {run_id: figures[evaluation_id] for run_id, evaluation_id in chosen.items()}


def clear_attention_cache() -> None:
    _FIGURES.clear()


def lung_shares(evaluation_id: int) -> pd.DataFrame:
    """lung_share and correct of every prediction of one evaluation that has a lung share."""
    query = (select(Prediction.lung_share, Prediction.correct)
             .where(Prediction.evaluation_id == evaluation_id,
                    _share(Prediction.lung_share).is_not(None)))
    with session_scope() as session:
        return pd.DataFrame(session.execute(query).all(), columns=["lung_share", "correct"])
