"""Read and write side of the shift view: an evaluation against the run's val.

Scores of one evaluation, the drift statistics stored on it, and the run's evaluations on other
data (external folders, shifted val, the new site of an adapted run) beside val.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import select

from db.models import Dataset, Evaluation, Prediction, Run, RunMetric
from db.session import session_scope
from db.site_calibration import site_calibration, site_calibrations


def evaluation_scores(evaluation_id: int) -> pd.DataFrame:
    """probability, true_label and outside_population of every prediction of an evaluation."""
    query = (select(Prediction.probability, Prediction.true_label, Prediction.outside_population)
             .where(Prediction.evaluation_id == evaluation_id).order_by(Prediction.id))
    with session_scope() as session:
        rows = session.execute(query).all()
    return pd.DataFrame(rows, columns=["probability", "true_label", "outside_population"])


def latest_val_evaluation(run_id: int) -> int | None:
    query = (select(Evaluation.id).where(Evaluation.run_id == run_id, Evaluation.split == "val",
                                         Evaluation.status == "completed")
             .order_by(Evaluation.id.desc()).limit(1))
    with session_scope() as session:
        return session.scalar(query)


def val_probabilities(run_id: int) -> np.ndarray:
    evaluation_id = latest_val_evaluation(run_id)
    if evaluation_id is None:
        return np.zeros(0)
    return evaluation_scores(evaluation_id).probability.to_numpy()


def store_drift(evaluation_id: int, psi: float | None, ks: float | None) -> None:
    with session_scope(write=True) as session:
        evaluation = session.get(Evaluation, evaluation_id)
        evaluation.drift_psi, evaluation.drift_ks = psi, ks


@dataclass(frozen=True)
class RunOrigin:
    """Where an adapted or site-calibrated run came from (None fields for an ordinary run)."""

    adapted_from_run_id: int | None
    adapted_on_dataset: str | None
    site_calibrated: str | None = None  # a site-calibrated run's origin (db/site_calibration.py)

    @property
    def transductive(self) -> bool:
        return self.adapted_from_run_id is not None

    @property
    def label(self) -> str:
        if self.site_calibrated:
            return self.site_calibrated
        source = "a deleted run" if self.adapted_from_run_id is None else (
            f"run {self.adapted_from_run_id}")
        return f"adapted from {source} on {self.adapted_on_dataset or '?'} (transductive)"


def run_origins(run_ids: list[int] | None = None) -> dict[int, RunOrigin]:
    """Every adapted or site-calibrated run's origin, keyed by run id (ordinary runs are left
    out)."""
    query = (select(Run.id, Run.adapted_from_run_id, Dataset.name)
             .outerjoin(Dataset, Dataset.id == Run.adapted_on_dataset_id)
             .where(Run.adapted_from_run_id.is_not(None) | Run.adapted_on_dataset_id.is_not(None)))
    if run_ids is not None:
        query = query.where(Run.id.in_(run_ids))
    with session_scope() as session:
        origins = {run_id: RunOrigin(source, dataset)
                   for run_id, source, dataset in session.execute(query).all()}
    return origins | {run_id: RunOrigin(None, None, info.label)
                      for run_id, info in site_calibrations(run_ids).items()}


def dataset_name(dataset_id: int) -> str:
    with session_scope() as session:
        return session.scalar(select(Dataset.name).where(Dataset.id == dataset_id)) or str(
            dataset_id)


def set_origin(run_id: int, source_run_id: int, dataset_id: int) -> None:
    with session_scope(write=True) as session:
        run = session.get(Run, run_id)
        run.adapted_from_run_id, run.adapted_on_dataset_id = source_run_id, dataset_id


def external_evaluations(run_id: int) -> pd.DataFrame:
    """Val and every completed evaluation on other data, newest first within each kind: id,
    split, shift, dataset, n_images, AUC, accuracy, specificity, sensitivity, ECE at the run's
    operating point, outside_share, drift_psi, drift_ks, and calibration_sample (True for the
    sample a site-calibrated run was calibrated on: in-sample figures)."""
    query = (select(Evaluation.id, Evaluation.split, Evaluation.shift, Dataset.name,
                    Evaluation.n_images, RunMetric.roc_auc, RunMetric.accuracy,
                    RunMetric.specificity, RunMetric.sensitivity, RunMetric.ece,
                    Evaluation.outside_share, Evaluation.drift_psi, Evaluation.drift_ks,
                    Evaluation.dataset_id)
             .join(Run, Run.id == Evaluation.run_id)
             .outerjoin(Dataset, Dataset.id == Evaluation.dataset_id)
             .outerjoin(RunMetric, (RunMetric.evaluation_id == Evaluation.id)
                        & (RunMetric.threshold_rule == Run.threshold_rule))
             .where(Evaluation.run_id == run_id, Evaluation.status == "completed",
                    Evaluation.split.in_(("val", "external")))
             .order_by(Evaluation.id.desc()))
    columns = ["evaluation_id", "split", "shift", "dataset", "n_images", "auc", "accuracy",
               "specificity", "sensitivity", "ece", "outside_share", "drift_psi", "drift_ks",
               "dataset_id"]
    with session_scope() as session:
        rows = session.execute(query).all()
    table = pd.DataFrame(rows, columns=columns)
    calibrated = site_calibration(run_id)
    table["calibration_sample"] = (table.split == "external") & (
        table.dataset_id == (calibrated.sample_dataset_id if calibrated else None))
    # The newest val, and the newest evaluation of each external dataset.
    return table.drop_duplicates(subset=["split", "dataset_id"]).reset_index(drop=True)
