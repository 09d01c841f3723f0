"""Suspected label errors: cleanlab's ranking of a cross-validated run's out-of-fold predictions."""

from __future__ import annotations

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import Base


class LabelIssue(Base):
    """One training image of a cross-validated run (`cxr crossval`): how likely its given label
    is wrong, judged from the probability of the fold model that never trained on it."""

    __tablename__ = "label_issues"
    __table_args__ = (
        UniqueConstraint("run_id", "image_id", name="uq_label_issues_run_image"),
        Index("ix_label_issues_run_rank", "run_id", "rank"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    # The out-of-fold prediction (split "oof"): its probability, given label and Grad-CAM.
    prediction_id: Mapped[int] = mapped_column(ForeignKey("predictions.id", ondelete="CASCADE"))
    fold: Mapped[int] = mapped_column(Integer)  # the fold model that held this image out
    # cleanlab's label quality (self-confidence: P(given label)); low means likely mislabelled.
    label_quality: Mapped[float] = mapped_column(Float)
    rank: Mapped[int] = mapped_column(Integer)  # 1 = the most likely mislabelled
    # Flagged by cleanlab's find_label_issues (confident learning), not just ranked low.
    suspected: Mapped[bool] = mapped_column(Boolean)
