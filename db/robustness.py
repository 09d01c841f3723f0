"""Read side for robustness checks: val metrics clean and under each acquisition shift."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select

from db.models import Evaluation, Run, RunMetric
from db.session import session_scope


def shift_table(run_id: int, evaluation_ids: list[int] | None = None) -> pd.DataFrame:
    """One row per shift (plus "none", the clean val), newest evaluation of each.

    Metrics are at the run's operating point: the metric row stored under the run's own
    threshold rule.
    """
    query = (select(Evaluation.id, Evaluation.shift, RunMetric)
             .join(Run, Run.id == Evaluation.run_id)
             .join(RunMetric, (RunMetric.evaluation_id == Evaluation.id)
                   & (RunMetric.threshold_rule == Run.threshold_rule))
             .where(Evaluation.run_id == run_id, Evaluation.status == "completed",
                    Evaluation.split.in_(("val", "val-shift")))
             .order_by(Evaluation.id))
    if evaluation_ids is not None:
        clean = (select(Evaluation.id).where(Evaluation.run_id == run_id,
                                             Evaluation.split == "val",
                                             Evaluation.status == "completed")
                 .order_by(Evaluation.id.desc()).limit(1))
        query = query.where(Evaluation.id.in_(evaluation_ids) | Evaluation.id.in_(clean))
    rows = {}
    with session_scope() as session:
        for evaluation_id, shift, metric in session.execute(query).all():
            rows[shift or "none"] = {
                "shift": shift or "none", "evaluation_id": evaluation_id,
                "auc": metric.roc_auc, "accuracy": metric.accuracy,
                "sensitivity": metric.sensitivity, "specificity": metric.specificity,
                "f1": metric.f1, "ece": metric.ece}
    table = pd.DataFrame.from_records(list(rows.values()))
    if not table.empty and "none" in rows:
        table["auc_drop"] = rows["none"]["auc"] - table["auc"]
    return table
