"""The audit trail: who viewed which image detail, uploaded, reviewed, signed in, changed users.

Writers call `add_event(session, ...)` inside their own transaction, so an action and its record
commit together; `record(...)` is for actions that write nothing else.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import AuditEvent
from db.session import session_scope

# Longer text is cut to the lengths its columns declare.
ACTOR_CHARS = AuditEvent.__table__.c.actor.type.length
ACTION_CHARS = AuditEvent.__table__.c.action.type.length
MAX_TARGET_CHARS = AuditEvent.__table__.c.target.type.length
SIGNED_IN = "signed in"
VIEWED_IMAGE = "viewed image"


@dataclass(frozen=True)
class Actor:
    """Who is acting: a signed-in user (with id), or a command line user ("cli:<login>")."""

    name: str
    user_id: int | None = None


@dataclass(frozen=True)
class AuditEntry:
    id: int
    created_at: datetime
    actor: str
    action: str
    target: str
    detail: str | None


def cli_actor() -> Actor:
    """Whoever runs a command on the database directly (no sign-in: see the README)."""
    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        login = "unknown"
    return Actor(f"cli:{login}")


def add_event(session: Session, actor: Actor, action: str, target: str = "",
              detail: str | None = None) -> None:
    session.add(AuditEvent(actor=actor.name[:ACTOR_CHARS], user_id=actor.user_id,
                           action=action[:ACTION_CHARS],
                           target=target[:MAX_TARGET_CHARS], detail=detail))


def record(actor: Actor, action: str, target: str = "", detail: str | None = None) -> None:
    with session_scope(write=True) as session:
        add_event(session, actor, action, target, detail)


def _by(actor: Actor):  # noqa: ANN202 - a SQL condition
    return (AuditEvent.user_id == actor.user_id if actor.user_id is not None
            else AuditEvent.actor == actor.name[:ACTOR_CHARS])


def record_view(actor: Actor, target: str, detail: str | None = None) -> bool:
    """Record that `actor` viewed `target` (an image served by URL), once per sign-in: nothing
    when they viewed it since they last signed in. Returns whether a row was added."""
    target = target[:MAX_TARGET_CHARS]
    signed_in = (select(func.coalesce(func.max(AuditEvent.id), 0))
                 .where(_by(actor), AuditEvent.action == SIGNED_IN).scalar_subquery())
    seen = (select(AuditEvent.id).where(AuditEvent.id > signed_in, _by(actor),
                                        AuditEvent.action == VIEWED_IMAGE,
                                        AuditEvent.target == target).limit(1))
    with session_scope() as session:
        if session.scalar(seen) is not None:
            return False
    record(actor, VIEWED_IMAGE, target, detail)
    return True


def recent(limit: int = 200, action: str | None = None,
           actor: str | None = None) -> list[AuditEntry]:
    """The newest events first, optionally only one action or one actor."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(max(int(limit), 1))
    if action:
        query = query.where(AuditEvent.action == action)
    if actor:
        query = query.where(AuditEvent.actor == actor)
    with session_scope() as session:
        return [AuditEntry(row.id, row.created_at, row.actor, row.action, row.target, row.detail)
                for row in session.scalars(query)]
