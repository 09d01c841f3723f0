"""0017 (run_imports: the predictions file behind an external run) down and up again with data,
on SQLite and, with CXR_TEST_POSTGRES_URL, PostgreSQL."""

from __future__ import annotations

from sqlalchemy import inspect, select, text

from db import migrate
from db.models import EXTERNAL_ARCH, Run, RunImport
from db.session import get_engine, session_scope
from tests.reliability.test_migrations_data import store_url  # noqa: F401 - the fixture


def _tables(url: str) -> set[str]:
    return set(inspect(get_engine(url)).get_table_names())


def test_external_runs_migration_down_up_down_up(store_url: str) -> None:  # noqa: F811
    migrate.upgrade(store_url)
    with session_scope(write=True, url=store_url) as session:
        run = Run(name="fastai", arch=EXTERNAL_ARCH, config={}, seed=0, device="external",
                  code_version="x", status="completed")
        session.add(run)
        session.flush()
        session.add(RunImport(run_id=run.id, source_name="p.csv", source_sha256="0" * 64,
                              n_rows=10, n_unknown=1, n_train=2, threshold_from_file=False))
    migrate.downgrade(store_url, "0014")
    assert "run_imports" not in _tables(store_url)
    with get_engine(store_url).connect() as connection:  # the run itself stays
        assert connection.execute(text("SELECT arch FROM runs")).scalar() == EXTERNAL_ARCH
    migrate.upgrade(store_url)
    assert migrate.current_revision(store_url) == migrate.head_revision()
    with session_scope(write=True, url=store_url) as session:
        assert session.scalar(select(RunImport)) is None  # the record did not survive
        run_id = session.scalar(select(Run.id))
        session.add(RunImport(run_id=run_id, source_name="p.csv", source_sha256="1" * 64,
                              n_rows=3, n_unknown=0, n_train=0, threshold_from_file=True))
    migrate.downgrade(store_url, "0014")
    migrate.upgrade(store_url)
    assert "run_imports" in _tables(store_url)
    with session_scope(write=True, url=store_url) as session:
        session.add(RunImport(run_id=run_id, source_name="q.csv", source_sha256="2" * 64,
                              n_rows=1, n_unknown=0, n_train=0, threshold_from_file=False))
    with session_scope(write=True, url=store_url) as session:  # ON DELETE CASCADE
        session.delete(session.get(Run, run_id))
    with session_scope(url=store_url) as session:
        assert session.scalar(select(RunImport)) is None
