"""Read side for robustness checks: val metrics clean and under each acquisition shift."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select

from db.models import Evaluation, RunMetric
from db.session import session_scope


def shift_table(run_id: int, evaluation_ids: list[int] | None = None) -> pd.DataFrame:
    """One row per shift (plus "none", the clean val), newest evaluation of each.

    Metrics are at the run's operating threshold (stored under rule "youden", whatever rule
    chose it); a run kept at a fixed 0.5 stores only "0.5", which is then its operating point.
    """
    query = (select(Evaluation.id, Evaluation.shift, RunMetric)
             .join(RunMetric, RunMetric.evaluation_id == Evaluation.id)
             .where(Evaluation.run_id == run_id, Evaluation.status == "completed",
                    Evaluation.split.in_(("val", "val-shift")),
                    RunMetric.threshold_rule.in_(("youden", "0.5")))
             .order_by(Evaluation.id, RunMetric.threshold_rule))
    if evaluation_ids is not None:
        clean = (select(Evaluation.id).where(Evaluation.run_id == run_id,
                                             Evaluation.split == "val",
                                             Evaluation.status == "completed")
                 .order_by(Evaluation.id.desc()).limit(1))
        query = query.where(Evaluation.id.in_(evaluation_ids) | Evaluation.id.in_(clean))
    rows = {}
    with session_scope() as session:
        for evaluation_id, shift, metric in session.execute(query).all():
            current = rows.get(shift or "none")
            if (current is not None and current["evaluation_id"] == evaluation_id
                    and metric.threshold_rule == "0.5"):
                continue  # this evaluation's "youden" row is its operating point
            rows[shift or "none"] = {
                "shift": shift or "none", "evaluation_id": evaluation_id,
                "auc": metric.roc_auc, "accuracy": metric.accuracy,
                "sensitivity": metric.sensitivity, "specificity": metric.specificity,
                "f1": metric.f1, "ece": metric.ece}
    table = pd.DataFrame.from_records(list(rows.values()))
    if not table.empty and "none" in rows:
        table["auc_drop"] = rows["none"]["auc"] - table["auc"]
    return table
