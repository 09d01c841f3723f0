"""Dashboard users: roles, salted password hashes, sign-in with a per-user back-off.

Passwords are hashed with werkzeug's scrypt (a fresh salt each time) and never stored or
logged in clear. Users are never deleted, only disabled: the audit trail names them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from db.audit import Actor, add_event
from db.models import USER_ROLES, User, utcnow
from db.session import session_scope

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 256
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
# Failures allowed before the back-off starts; then each retry waits 2, 4, 8, ... seconds
# after the last failure, up to MAX_BACKOFF_SECONDS.
FREE_FAILURES = 3
MAX_BACKOFF_SECONDS = 900
HASH_METHOD = "scrypt"
# Checked against when the name is unknown, so a miss costs as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-password", method=HASH_METHOD)


class UserAdminError(ValueError):
    """A user change that cannot be made; the message names the value and what to do."""


@dataclass(frozen=True)
class UserInfo:
    id: int
    name: str
    role: str
    active: bool
    created_at: datetime
    # Changes whenever the password does: part of the session id, so a reset signs out
    # every session of that user.
    session_stamp: str


@dataclass(frozen=True)
class SignIn:
    user: UserInfo | None  # None: refused
    retry_after_s: int = 0  # > 0: refused by the back-off without checking the password


def role_rank(role: str) -> int:
    return USER_ROLES.index(role)


def _stamp(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def _info(row: User) -> UserInfo:
    return UserInfo(row.id, row.name, row.role, bool(row.active), row.created_at,
                    _stamp(row.password_hash))


def _check_role(role: str) -> None:
    if role not in USER_ROLES:
        raise UserAdminError(f"unknown role {role!r}: choose one of {', '.join(USER_ROLES)}")


def _hash(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise UserAdminError(f"the password is {len(password)} characters; use at least "
                             f"{MIN_PASSWORD_CHARS}")
    if len(password) > MAX_PASSWORD_CHARS:
        raise UserAdminError(f"the password is over {MAX_PASSWORD_CHARS} characters")
    return generate_password_hash(password, method=HASH_METHOD)


def _existing(session, name: str) -> User:  # noqa: ANN001 - a Session
    row = session.scalar(select(User).where(User.name == name))
    if row is None:
        raise UserAdminError(f"no user named {name!r}; `cxr users list` shows them")
    return row


def add_user(name: str, role: str, password: str, actor: Actor) -> UserInfo:
    if not NAME_PATTERN.match(name or ""):
        raise UserAdminError(f"user name {name!r}: use 1-100 letters, digits, '.', '_', '@' "
                             "or '-', starting with a letter or digit")
    _check_role(role)
    password_hash = _hash(password)
    with session_scope(write=True) as session:
        if session.scalar(select(User.id).where(User.name == name)) is not None:
            raise UserAdminError(f"user {name!r} already exists; change it with "
                                 "`cxr users set-role` or `cxr users reset-password`")
        row = User(name=name, role=role, password_hash=password_hash, active=True,
                   failed_signins=0)
        session.add(row)
        session.flush()
        add_event(session, actor, "user added", name, f"role {role}")
        return _info(row)


def list_users() -> list[UserInfo]:
    with session_scope() as session:
        return [_info(row) for row in session.scalars(select(User).order_by(User.name))]


def get_user(user_id: int) -> UserInfo | None:
    with session_scope() as session:
        row = session.get(User, user_id)
        return _info(row) if row else None


def set_role(name: str, role: str, actor: Actor) -> UserInfo:
    _check_role(role)
    with session_scope(write=True) as session:
        row = _existing(session, name)
        previous, row.role = row.role, role
        add_event(session, actor, "role changed", name, f"{previous} -> {role}")
        return _info(row)


def set_active(name: str, active: bool, actor: Actor) -> UserInfo:
    with session_scope(write=True) as session:
        row = _existing(session, name)
        row.active = active
        add_event(session, actor, "user enabled" if active else "user disabled", name)
        return _info(row)


def reset_password(name: str, password: str, actor: Actor) -> UserInfo:
    password_hash = _hash(password)
    with session_scope(write=True) as session:
        row = _existing(session, name)
        row.password_hash = password_hash
        row.failed_signins, row.last_failed_at = 0, None
        add_event(session, actor, "password reset", name)
        return _info(row)


def admin_exists() -> bool:
    """Whether at least one active admin can sign in."""
    with session_scope() as session:
        return bool(session.scalar(select(func.count(User.id)).where(
            User.role == "admin", User.active.is_(True))))


def backoff_seconds(failed_signins: int) -> int:
    if failed_signins < FREE_FAILURES:
        return 0
    return min(2 ** (failed_signins - FREE_FAILURES + 1), MAX_BACKOFF_SECONDS)


def sign_in(name: str, password: str, client: str = "") -> SignIn:
    """Check a name and password; record the attempt in the audit. Never says which was wrong."""
    now = utcnow()
    with session_scope(write=True) as session:
        row = session.scalar(select(User).where(User.name == (name or "")[:100]))
        actor = Actor((name or "?")[:100], row.id if row else None)
        if row is not None and row.last_failed_at is not None:
            ready_at = row.last_failed_at + timedelta(seconds=backoff_seconds(row.failed_signins))
            if now < ready_at:
                wait = max(int((ready_at - now).total_seconds()) + 1, 1)
                add_event(session, actor, "sign-in refused", client, f"back-off {wait} s")
                return SignIn(None, wait)
        valid = check_password_hash(row.password_hash if row else _DUMMY_HASH, password or "")
        if row is None or not valid or not row.active:
            if row is not None:
                row.failed_signins += 1
                row.last_failed_at = now
            add_event(session, actor, "sign-in failed", client,
                      "disabled user" if row is not None and valid else None)
            return SignIn(None)
        row.failed_signins, row.last_failed_at = 0, None
        add_event(session, actor, "signed in", client)
        return SignIn(_info(row))
