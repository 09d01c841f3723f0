"""Only migrations make the schema, and they make exactly what the models describe."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from db import migrate
from db.models import Base
from db.session import get_engine


def test_upgrade_of_empty_database_matches_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    migrate.upgrade(url)
    with get_engine(url).connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []
    assert migrate.current_revision(url) == migrate.head_revision()


def test_single_head_and_full_downgrade_cycle(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cycle.db'}"
    migrate.upgrade(url)
    engine = get_engine(url)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO datasets (name, root, synthetic, has_official_test, created_at) "
            "VALUES ('d', '/data', 0, 0, '2026-01-01')"))
    migrate.downgrade(url, "0004")
    assert "temperature" not in {c["name"] for c in inspect(engine).get_columns("runs")}
    migrate.upgrade(url)
    assert "temperature" in {c["name"] for c in inspect(engine).get_columns("runs")}
    with engine.connect() as connection:
        assert connection.execute(text("SELECT name FROM datasets")).scalar() == "d"
    migrate.downgrade(url, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}


def test_sqlite_pragmas(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'pragmas.db'}"
    with get_engine(url).connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
