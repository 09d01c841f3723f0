"""Site calibration: a run made by `cxr calibrate` from another run and a small labelled sample
of a new site (engine/evaluation/site_calibration.py), with how far its new operating point can
be trusted."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import Base, utcnow


class SiteCalibration(Base):
    """One site-calibrated run: the same weights as its source, its calibration and threshold
    refitted on the sample. Every evaluation of the run on `sample_dataset_id` is on the
    calibration sample itself (in-sample), and is marked so wherever it is shown."""

    __tablename__ = "site_calibrations"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"),
                                        primary_key=True)
    source_run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    sample_dataset_id: Mapped[int | None] = mapped_column(
        ForeignKey("datasets.id", ondelete="SET NULL"), index=True)
    # What was refitted: "threshold", "offset" or "offset+temperature" (the fit kept).
    method: Mapped[str] = mapped_column(String(40))
    n_normal: Mapped[int] = mapped_column(Integer)
    n_pneumonia: Mapped[int] = mapped_column(Integer)
    # Sensitivity and specificity on the sample at the chosen threshold, with percentile
    # bootstrap intervals (resampled within each class) at `confidence`.
    sensitivity: Mapped[float] = mapped_column(Float)
    sensitivity_low: Mapped[float] = mapped_column(Float)
    sensitivity_high: Mapped[float] = mapped_column(Float)
    specificity: Mapped[float] = mapped_column(Float)
    specificity_low: Mapped[float] = mapped_column(Float)
    specificity_high: Mapped[float] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)
    n_resamples: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
