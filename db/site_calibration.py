"""Site-calibrated runs (`cxr calibrate`): their origin, the sample they were calibrated on and
the trust in their new operating point (the bootstrap intervals on the sample)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from db.models import Dataset, Run, SiteCalibration
from db.session import session_scope


@dataclass(frozen=True)
class SiteCalibrationInfo:
    """A site-calibrated run: where it came from and how far its operating point holds."""

    run_id: int
    source_run_id: int | None
    sample_dataset_id: int | None
    sample_dataset: str | None  # the sample's dataset name
    method: str
    n_normal: int
    n_pneumonia: int
    sensitivity: float
    sensitivity_low: float
    sensitivity_high: float
    specificity: float
    specificity_low: float
    specificity_high: float
    confidence: float
    n_resamples: int
    threshold_rule: str | None = None  # the calibrated run's (read from it, not stored here)

    @property
    def label(self) -> str:
        source = ("a deleted run" if self.source_run_id is None
                  else f"run {self.source_run_id}")
        rule = f"; threshold by {self.threshold_rule}" if self.threshold_rule else ""
        return (f"calibrated from {source} on {self.sample_dataset or '?'} "
                f"({self.n_normal + self.n_pneumonia} labelled images{rule})")


def record_site_calibration(info: SiteCalibrationInfo) -> None:
    fields = {key: value for key, value in info.__dict__.items()
              if key not in ("sample_dataset", "threshold_rule")}
    with session_scope(write=True) as session:
        session.add(SiteCalibration(**fields))


def _query():  # noqa: ANN202 - a Select of (SiteCalibration, Dataset.name, Run.threshold_rule)
    return (select(SiteCalibration, Dataset.name, Run.threshold_rule)
            .outerjoin(Dataset, Dataset.id == SiteCalibration.sample_dataset_id)
            .outerjoin(Run, Run.id == SiteCalibration.run_id))


def _info(row: SiteCalibration, dataset: str | None, rule: str | None) -> SiteCalibrationInfo:
    return SiteCalibrationInfo(
        row.run_id, row.source_run_id, row.sample_dataset_id, dataset, row.method, row.n_normal,
        row.n_pneumonia, row.sensitivity, row.sensitivity_low, row.sensitivity_high,
        row.specificity, row.specificity_low, row.specificity_high, row.confidence,
        row.n_resamples, rule)


def site_calibrations(run_ids: list[int] | None = None) -> dict[int, SiteCalibrationInfo]:
    """Every site-calibrated run among `run_ids` (all when None), keyed by run id."""
    query = _query()
    if run_ids is not None:
        query = query.where(SiteCalibration.run_id.in_(run_ids))
    with session_scope() as session:
        return {row.run_id: _info(row, dataset, rule)
                for row, dataset, rule in session.execute(query).all()}


def site_calibration(run_id: int) -> SiteCalibrationInfo | None:
    return site_calibrations([run_id]).get(run_id)
