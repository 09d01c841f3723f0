"""Read side for CAM metrics: run-level summaries of where a model looked."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select

from db.models import Prediction
from db.session import session_scope


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
