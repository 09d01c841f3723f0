"""Runs trained elsewhere: where an imported run's predictions came from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import Base, utcnow

# runs.arch of a run whose predictions were imported (`cxr import-predictions`): it has no
# checkpoint and no Grad-CAM, so it is compared like any run but never scores an image.
EXTERNAL_ARCH = "external"


class RunImport(Base):
    """The predictions file behind one external run, and what became of its rows."""

    __tablename__ = "run_imports"

    run_id: Mapped[int] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    source_name: Mapped[str] = mapped_column(Text)  # the file's name, never its folder
    source_sha256: Mapped[str] = mapped_column(String(64))
    n_rows: Mapped[int] = mapped_column(Integer)
    n_unknown: Mapped[int] = mapped_column(Integer)  # rows naming no registered image
    n_train: Mapped[int] = mapped_column(Integer)  # rows in the split's train subset
    # True: the file gave the operating threshold; False: chosen on val by threshold_rule.
    threshold_from_file: Mapped[bool] = mapped_column(Boolean)
    imported_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
