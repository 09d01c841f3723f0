"""Where things live, and how we talk to the database.

`CXR_HOME` (default `~/.cxr`) holds the SQLite store `cxr.db` and the `artifacts/` folder.
`CXR_DATABASE_URL` chooses another database (PostgreSQL: `postgresql+psycopg2://...`).
Both hold patients' images and results: the home is made 0700 and a SQLite file 0600, so
nothing created inside them (runs, uploads, thumbnails, caches) is readable by other users.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

from db import settings
from db.errors import UserError

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Folders of CXR_HOME that hold images (artifacts: runs and uploads; cache: thumbnails).
PRIVATE_FOLDERS = ("artifacts", "cache")
T = TypeVar("T")
log = logging.getLogger(__name__)


class StorageError(RuntimeError):
    """CXR_HOME or the database cannot be used; the message says which and what to do."""


def cxr_home() -> Path:
    return settings.CXR_HOME.get().expanduser().resolve()


def artifacts_root() -> Path:
    return cxr_home() / "artifacts"


def database_url() -> str:
    url = settings.CXR_DATABASE_URL.get()
    if url:
        return url
    return f"sqlite:///{cxr_home() / 'cxr.db'}"


def ensure_home() -> Path:
    """Create CXR_HOME (0700) and its image folders (0700), or explain why that is impossible;
    warn if an existing home is open to other users."""
    home = cxr_home()
    try:
        if home.is_dir():
            _warn_if_shared(home)
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        for folder in PRIVATE_FOLDERS:
            (home / folder).mkdir(mode=0o700, exist_ok=True)
        # A probe of this process's own (unique name, created exclusively, removed on close):
        # server workers and other commands check the same home at the same moment.
        with tempfile.TemporaryFile(dir=home, prefix=".write-probe-") as probe:
            probe.write(b"ok")
            probe.flush()
    except OSError as exc:
        raise StorageError(
            f"CXR_HOME={home} is not writable ({exc.strerror or exc}). "
            "Point CXR_HOME at a writable folder with free space."
        ) from exc
    return home


@lru_cache(maxsize=8)  # once per home and process, not once per worker's every start-up check
def _warn_if_shared(home: Path) -> None:
    mode = stat.S_IMODE(home.stat().st_mode)
    if mode & 0o077:
        log.warning("CXR_HOME=%s can be read by other users (mode %o) and holds patients' "
                    "images and results: restrict it with `chmod -R go-rwx %s`", home, mode, home)


def _create_private_sqlite(url: str) -> None:
    """Create a SQLite database file 0600 before SQLite creates it with the umask (0644);
    its -wal and -shm files take the same mode."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    try:
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError:
        pass  # it exists, or its folder does not: SQLite opens it, or says why it cannot


def _install_sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # noqa: ANN001
        # We emit BEGIN ourselves (below), so pysqlite must not open transactions implicitly.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # noqa: ANN001
        # Writers take the write lock up front (BEGIN IMMEDIATE), so two writers queue on the
        # busy timeout instead of failing with "database is locked" on lock upgrade.
        immediate = connection.get_execution_options().get("sqlite_immediate", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


_engine_urls: set[str] = set()


@lru_cache(maxsize=8)
def get_engine(url: str | None = None) -> Engine:
    url = url or database_url()
    _engine_urls.add(url)
    if url.startswith("sqlite"):
        _create_private_sqlite(url)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _install_sqlite_pragmas(engine)
    else:
        try:
            engine = create_engine(url, pool_pre_ping=True)
        except (ArgumentError, NoSuchModuleError, ImportError) as exc:
            # The message would repeat the URL, password included: name the problem only.
            missing = f" (missing module {exc.name})" if isinstance(exc, ImportError) else ""
            raise UserError(f"CXR_DATABASE_URL cannot be used{missing}: give a URL such as "
                            "postgresql+psycopg2://user:pass@host/db, whose driver is "
                            "installed, or unset it to use SQLite in CXR_HOME") from None
    return engine


@lru_cache(maxsize=8)
def _sessionmaker(url: str, write: bool) -> sessionmaker[Session]:
    engine = get_engine(url)
    if write and engine.dialect.name == "sqlite":
        engine = engine.execution_options(sqlite_immediate=True)
    return sessionmaker(bind=engine, expire_on_commit=False)


def dispose_engines() -> None:
    """Close every pooled connection (tests switch databases; forked servers start clean)."""
    for url in list(_engine_urls):
        get_engine(url).dispose()
    _engine_urls.clear()
    _sessionmaker.cache_clear()
    get_engine.cache_clear()


def retry_on_conflict(operation: Callable[[], T], attempts: int = 3) -> T:
    """Run a get-or-create transaction again when a concurrent writer won the race.

    On SQLite, BEGIN IMMEDIATE already serialises writers; on PostgreSQL two processes can both
    see "missing" and both insert, and one gets a unique violation. The retry then finds the
    other's row.
    """
    for attempt in range(attempts):
        try:
            return operation()
        except IntegrityError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


@contextmanager
def session_scope(write: bool = False, url: str | None = None) -> Iterator[Session]:
    """A transaction: commits on success, rolls back on any error. Callers never commit."""
    session = _sessionmaker(url or database_url(), write)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
