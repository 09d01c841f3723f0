"""The declarative base, naming convention and vocabularies every table module shares."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    MetaData,
)
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names: Alembic's batch mode on SQLite needs them to alter tables.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

RUN_STATUSES = ("queued", "running", "completed", "failed")
SUBSETS = ("train", "val", "test")
LABEL_NAMES = ("NORMAL", "PNEUMONIA")  # images.label, predicted_label, true_label: 0, 1
# Threshold rules are engine/evaluation/thresholds.py's words; this fixed one is a run's
# operating point until a rule chose one, and the 0.5 row every evaluation stores.
FIXED_THRESHOLD_RULE = "fixed:0.5"


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
