"""The model registry: named aliases (`production`, ...) pointing at runs, with their history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import Base, utcnow

# The alias `cxr score` and the Score page answer with when it is set.
PRODUCTION_ALIAS = "production"


class RunAlias(Base):
    """One assignment of an alias to a run: current while `replaced_at` is NULL, then history.

    Promoting ends the alias's current row and adds a new one, so "which run held `production`
    on a date" is the row whose [set_at, replaced_at) holds that date."""

    __tablename__ = "run_aliases"
    __table_args__ = (
        Index("ix_run_aliases_alias_set_at", "alias", "set_at"),
        # At most one current row per alias, whatever two admins do at once.
        Index("uq_run_aliases_current", "alias", unique=True,
              sqlite_where="replaced_at IS NULL", postgresql_where="replaced_at IS NULL"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    alias: Mapped[str] = mapped_column(String(60))
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    # Who set it, as the audit names them (a user name or "cli:<login>").
    set_by: Mapped[str] = mapped_column(String(120))
    set_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    set_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # Why a promotion went through anyway (`--force`): the checks it overrode; NULL when none.
    forced_past: Mapped[str | None] = mapped_column(String(400))
    replaced_at: Mapped[datetime | None] = mapped_column(DateTime)
    replaced_by: Mapped[str | None] = mapped_column(String(120))
