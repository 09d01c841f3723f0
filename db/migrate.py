"""Schema upgrades through Alembic, configured in code. Only migrations change the schema."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from db.models import Run, utcnow
from db.runs import rerun_advice
from db.session import StorageError, database_url, ensure_home, get_engine, session_scope

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation: a literal % in a URL (encoded password) must be doubled.
    config.set_main_option("sqlalchemy.url", (url or database_url()).replace("%", "%%"))
    return config


def head_revision() -> str:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"migrations have {len(heads)} heads ({heads}); merge them first")
    return heads[0]


def upgrade(url: str | None = None, revision: str = "head") -> None:
    head_revision()
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | None = None, revision: str = "-1") -> None:
    command.downgrade(alembic_config(url), revision)


def current_revision(url: str | None = None) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with get_engine(url or database_url()).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_orphaned_runs() -> list[int]:
    """Runs left `running` by a process on this host that no longer exists become `failed`."""
    host = socket.gethostname()
    failed = []
    with session_scope(write=True) as session:
        for run in session.scalars(select(Run).where(Run.status.in_(("running", "queued")))):
            if run.hostname == host and run.pid is not None and not _pid_alive(run.pid):
                advice = rerun_advice(run.id, run.config or {})
                run.failure_reason = (
                    f"process {run.pid} on {host} died while the run was {run.status}; "
                    + (advice or f"resume with `cxr train --resume {run.id}`")
                )
                run.status = "failed"
                run.finished_at = utcnow()
                failed.append(run.id)
    return failed


def init_db() -> None:
    """Start-up: make CXR_HOME, upgrade to head, and fail runs whose process died."""
    url = database_url()
    ensure_home()  # artifacts live there whatever the database
    try:
        upgrade(url)
    except OperationalError as exc:
        raise StorageError(f"cannot open the database at {url}: {exc.orig}") from exc
    fail_orphaned_runs()
