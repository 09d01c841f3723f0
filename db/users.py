"""Dashboard users: roles, salted password hashes, sign-in with a per-user back-off.

Passwords are hashed with werkzeug's scrypt (a fresh salt each time) and never stored or
logged in clear. Users are never deleted, only disabled: the audit trail names them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from db.audit import Actor, add_event
from db.models import USER_ROLES, SignInFailure, User, utcnow
from db.session import session_scope

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 256
MAX_NAME_CHARS = 100
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
# The audit actor of a sign-in under a name no user has: no real name (NAME_PATTERN) contains
# ":", and command line actors are "cli:<login>", so neither can be mistaken for it.
UNKNOWN_NAME_PREFIX = "unknown:"
# Failures allowed before the back-off starts; then each retry waits 2, 4, 8, ... seconds
# after the last failure, up to MAX_BACKOFF_SECONDS. Counted per name tried, known or not.
FREE_FAILURES = 3
MAX_BACKOFF_SECONDS = 900
# A name's count is forgotten this long after its last failure (so guessed names do not pile up).
FORGET_FAILURES_AFTER = timedelta(days=1)
HASH_METHOD = "scrypt"
# Checked against when the name is unknown or throttled, so every answer costs one check.
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
    # Part of the session id: raised by sign-out, disable, enable, role change and password
    # reset, so every older session of the user stops loading.
    session_version: int


@dataclass(frozen=True)
class SignIn:
    user: UserInfo | None  # None: refused
    retry_after_s: int = 0  # > 0: refused by the back-off without checking the password


def role_rank(role: str) -> int:
    return USER_ROLES.index(role)


def _info(row: User) -> UserInfo:
    return UserInfo(row.id, row.name, row.role, bool(row.active), row.created_at,
                    row.session_version)


def _end_sessions(session: Session, row: User) -> None:
    """Every session made before now stops loading (one atomic increment: none is lost)."""
    row.session_version = User.session_version + 1
    session.flush()
    session.refresh(row, ["session_version"])


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
                   session_version=0)
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
        _end_sessions(session, row)
        add_event(session, actor, "role changed", name, f"{previous} -> {role}")
        return _info(row)


def set_active(name: str, active: bool, actor: Actor) -> UserInfo:
    with session_scope(write=True) as session:
        row = _existing(session, name)
        row.active = active
        _end_sessions(session, row)
        add_event(session, actor, "user enabled" if active else "user disabled", name)
        return _info(row)


def reset_password(name: str, password: str, actor: Actor) -> UserInfo:
    password_hash = _hash(password)
    with session_scope(write=True) as session:
        row = _existing(session, name)
        row.password_hash = password_hash
        session.execute(delete(SignInFailure).where(SignInFailure.name == name))
        _end_sessions(session, row)
        add_event(session, actor, "password reset", name)
        return _info(row)


def admin_exists() -> bool:
    """Whether at least one active admin can sign in."""
    with session_scope() as session:
        return bool(session.scalar(select(func.count(User.id)).where(
            User.role == "admin", User.active.is_(True))))


def sign_out(user_id: int, actor: Actor) -> None:
    """End every session of the user, this one and any copy of its cookie."""
    with session_scope(write=True) as session:
        row = session.get(User, user_id)
        if row is not None:
            _end_sessions(session, row)
        add_event(session, actor, "signed out")


def backoff_seconds(failures: int) -> int:
    if failures < FREE_FAILURES:
        return 0
    return min(2 ** (failures - FREE_FAILURES + 1), MAX_BACKOFF_SECONDS)


def failed_sign_ins(name: str) -> int:
    """Failed sign-ins counted for `name` (known or not) since its last success or reset."""
    with session_scope() as session:
        return session.scalar(select(SignInFailure.failures).where(
            SignInFailure.name == name[:MAX_NAME_CHARS])) or 0


def _attempt_actor(name: str, row: User | None) -> Actor:
    if row is not None:
        return Actor(row.name, row.id)
    return Actor(UNKNOWN_NAME_PREFIX + ascii(name)[1:-1])  # escaped: one line in `cxr audit`


def _wait_seconds(session: Session, key: str, now: datetime) -> int:
    failure = session.get(SignInFailure, key)
    if failure is None:
        return 0
    ready_at = failure.last_failed_at + timedelta(seconds=backoff_seconds(failure.failures))
    return max(int((ready_at - now).total_seconds()) + 1, 1) if now < ready_at else 0


def _count_failure(session: Session, key: str, now: datetime) -> int:
    """One more failure for `key` in one statement, so parallel attempts each count."""
    dialect = session.get_bind().dialect.name
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect]
    statement = insert(SignInFailure).values(name=key, failures=1, last_failed_at=now)
    statement = statement.on_conflict_do_update(
        index_elements=[SignInFailure.name],
        set_={"failures": SignInFailure.failures + 1, "last_failed_at": now},
    ).returning(SignInFailure.failures)
    session.execute(delete(SignInFailure).where(
        SignInFailure.last_failed_at < now - FORGET_FAILURES_AFTER))
    return session.execute(statement).scalar_one()


def sign_in(name: str, password: str, client: str = "") -> SignIn:
    """Check a name and password; record the attempt in the audit. Never says which was wrong.

    Known and unknown names take the same path: the same back-off, and one password check
    each (a throttled or unknown name is checked against a dummy hash), so neither the answer
    nor its time tells whether a name exists.
    """
    key, now = (name or "")[:MAX_NAME_CHARS], utcnow()
    with session_scope() as session:
        row = session.scalar(select(User).where(User.name == key))
        wait = _wait_seconds(session, key, now)
    actor = _attempt_actor(key, row)
    checked_hash = row.password_hash if row is not None and not wait else _DUMMY_HASH
    valid = check_password_hash(checked_hash, password or "") and checked_hash != _DUMMY_HASH
    with session_scope(write=True) as session:
        if wait:
            add_event(session, actor, "sign-in refused", client, f"back-off {wait} s")
            return SignIn(None, wait)
        if not valid or not row.active:
            _count_failure(session, key, utcnow())
            add_event(session, actor, "sign-in failed", client,
                      "disabled user" if valid else None)
            return SignIn(None)
        session.execute(delete(SignInFailure).where(SignInFailure.name == key))
        add_event(session, actor, "signed in", client)
        return SignIn(_info(row))
