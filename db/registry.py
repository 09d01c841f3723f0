"""The model registry: which run each alias (`production`, ...) points at, set by an admin,
audited, and kept as history (one row per assignment). ORM rows stay here; callers get
`AliasAssignment`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.audit import Actor, add_event
from db.errors import UserError
from db.models import EXTERNAL_ARCH, PRODUCTION_ALIAS, Evaluation, Run, RunAlias, User, utcnow
from db.runs import ENSEMBLE_ARCH
from db.session import session_scope

ALIAS_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,59}")
ACTOR_CHARS = RunAlias.__table__.c.set_by.type.length
FORCED_CHARS = RunAlias.__table__.c.forced_past.type.length
PROMOTED, DEMOTED = "promoted run", "removed alias"
MAX_RUN_ID = 2**31 - 1  # runs.id is an INTEGER column: 32 bits on PostgreSQL


class PromotionRefused(UserError):
    """A promotion the run's state argues against; `--force` (or the checkbox) overrides it."""

    def __init__(self, run_id: int, alias: str, concerns: list[str]) -> None:
        self.concerns = concerns
        super().__init__(f"run {run_id} was not promoted to {alias}: it {'; it '.join(concerns)}."
                         " Promote it anyway with --force")


@dataclass(frozen=True)
class AliasAssignment:
    """One alias held by one run from `set_at` until `replaced_at` (None: it still holds it)."""

    id: int
    alias: str
    run_id: int
    run_name: str
    set_by: str
    set_at: datetime
    forced_past: str | None
    replaced_at: datetime | None
    replaced_by: str | None

    @property
    def current(self) -> bool:
        return self.replaced_at is None


def check_alias(alias: str) -> str:
    """The alias name, or a UserError naming it and what names are allowed."""
    if not ALIAS_PATTERN.fullmatch(alias or ""):
        raise UserError(f"alias {alias!r}: use 1-60 lower-case letters, digits, '-' or '_', "
                        "starting with a letter (e.g. production, staging)")
    return alias


def named_admin(name: str) -> Actor:
    """`--as NAME` on the command line: an active admin of the dashboard, acting by name."""
    with session_scope() as session:
        user = session.scalar(select(User).where(User.name == name))
        if user is None or not user.active or user.role != "admin":
            raise UserError(f"--as {name!r}: not an active admin; only admins set aliases "
                            "(`cxr users list` shows them)")
        return Actor(user.name, user.id)


def check_run_id(run_id: object) -> int:
    """A run id as typed (CLI or form) -> an int the database can hold, or a one-line UserError."""
    text_id = str(run_id).strip()
    if not text_id.isdigit() or not 1 <= int(text_id) <= MAX_RUN_ID:
        raise UserError(f"run {text_id[:30]!r} is not a run id: give a positive whole number "
                        "from `cxr runs`")
    return int(text_id)


def can_answer_uploads(run: Run) -> bool:
    """Whether `run` could score an upload at all: a checkpoint of its own, or an ensemble.
    Imported (external) and crossval runs have none, so no --force makes them answer."""
    return run.arch == ENSEMBLE_ARCH or run.checkpoint_path is not None


def _cannot_answer(run: Run) -> UserError:
    kind = ("an imported run (predictions only)" if run.arch == EXTERNAL_ARCH
            else "a crossval run" if (run.config or {}).get("origin") == "crossval"
            else f"a {run.status} run")
    return UserError(f"run {run.id} cannot answer uploads: it is {kind} with no model checkpoint,"
                     " so it cannot be promoted, even with --force; promote a completed run "
                     "trained with `cxr train` (`cxr runs` lists them)")


def _concerns(session: Session, run: Run) -> list[str]:
    """Why `run` should not answer uploads: each a phrase after "it"."""
    concerns = []
    if run.status != "completed":
        concerns.append(f"is {run.status}, not completed")
    if run.health_warning:
        concerns.append(f"is unhealthy ({run.health_warning.partition(':')[0]})")
    tested = session.scalar(select(Evaluation.id).where(
        Evaluation.run_id == run.id, Evaluation.split == "test",
        Evaluation.status == "completed").limit(1))
    if tested is None:
        concerns.append("was never evaluated on test (`cxr evaluate RUN` does it)")
    return concerns


def _info(row: RunAlias, run_name: str) -> AliasAssignment:
    return AliasAssignment(row.id, row.alias, row.run_id, run_name, row.set_by, row.set_at,
                           row.forced_past, row.replaced_at, row.replaced_by)


def _current(session: Session, alias: str) -> RunAlias | None:
    return session.scalar(select(RunAlias).where(RunAlias.alias == alias,
                                                 RunAlias.replaced_at.is_(None)))


def promote(run_id: int, alias: str, actor: Actor, force: bool = False) -> AliasAssignment:
    """Point `alias` at `run_id`, ending the alias's current assignment; audited.

    Refused (PromotionRefused) when the run is not completed, unhealthy or never evaluated on
    test, unless `force`: then the overridden concerns are kept with the assignment. A run with
    no checkpoint (imported, crossval, failed before saving one) is refused even with `force`:
    it could never answer an upload."""
    check_alias(alias)
    run_id = check_run_id(run_id)
    try:
        with session_scope(write=True) as session:
            run = session.get(Run, run_id)
            if run is None:
                raise UserError(f"run {run_id} does not exist; `cxr runs` lists the runs")
            if not can_answer_uploads(run):
                raise _cannot_answer(run)
            concerns = _concerns(session, run)
            if concerns and not force:
                raise PromotionRefused(run_id, alias, concerns)
            now, name = utcnow(), actor.name[:ACTOR_CHARS]
            previous = _current(session, alias)
            if previous is not None:
                previous.replaced_at, previous.replaced_by = now, name
                session.flush()  # the one-current-row index sees the old row ended first
            forced = "; ".join(concerns)[:FORCED_CHARS] or None
            row = RunAlias(alias=alias, run_id=run_id, set_by=name, set_by_id=actor.user_id,
                           set_at=now, forced_past=forced)
            session.add(row)
            session.flush()
            add_event(session, actor, PROMOTED, f"run {run_id}", f"alias {alias}" + (
                f" (was run {previous.run_id})" if previous is not None else "")
                + (f"; forced past: {forced}" if forced else ""))
            return _info(row, run.name)
    except IntegrityError as exc:  # another admin set the same alias at the same moment
        raise UserError(f"alias {alias} was changed by someone else at the same time; "
                        "run the command again") from exc


def remove_alias(alias: str, actor: Actor) -> AliasAssignment:
    """End `alias`'s current assignment (no run holds it afterwards); audited."""
    check_alias(alias)
    with session_scope(write=True) as session:
        row = _current(session, alias)
        if row is None:
            raise UserError(f"no run holds alias {alias}; `cxr aliases` lists them")
        row.replaced_at, row.replaced_by = utcnow(), actor.name[:ACTOR_CHARS]
        add_event(session, actor, DEMOTED, f"run {row.run_id}", f"alias {alias}")
        session.flush()
        return _info(row, session.get(Run, row.run_id).name)


def _assignments(current_only: bool, alias: str | None = None) -> list[AliasAssignment]:
    query = (select(RunAlias, Run.name).join(Run, Run.id == RunAlias.run_id)
             .order_by(RunAlias.alias, RunAlias.id.desc()))
    if current_only:
        query = query.where(RunAlias.replaced_at.is_(None))
    if alias is not None:
        query = query.where(RunAlias.alias == alias)
    with session_scope() as session:
        return [_info(row, name) for row, name in session.execute(query).all()]


def current_aliases() -> list[AliasAssignment]:
    """Every alias that a run holds now, by alias name."""
    return _assignments(current_only=True)


def alias_history(alias: str | None = None) -> list[AliasAssignment]:
    """Every assignment, current and ended, newest first per alias."""
    return _assignments(current_only=False, alias=alias)


def aliases_by_run() -> dict[int, list[str]]:
    """Run id -> the aliases it holds now."""
    held: dict[int, list[str]] = {}
    for assignment in current_aliases():
        held.setdefault(assignment.run_id, []).append(assignment.alias)
    return held


def production_run_id(session: Session | None = None) -> int | None:
    """The run holding `production` now; inside `session` when given (a scorer's transaction)."""
    query = select(RunAlias.run_id).where(RunAlias.alias == PRODUCTION_ALIAS,
                                          RunAlias.replaced_at.is_(None))
    if session is not None:
        return session.scalar(query)
    with session_scope() as own:
        return own.scalar(query)


@dataclass(frozen=True)
class AliasesSignature:
    """Changes whenever an alias is set or removed: a cached Runs table's Alias column is stale."""

    newest_assignment: int | None
    current: int


def aliases_signature() -> AliasesSignature:
    with session_scope() as session:
        return AliasesSignature(*session.execute(select(
            func.max(RunAlias.id),
            func.count(RunAlias.id).filter(RunAlias.replaced_at.is_(None)))).one())
