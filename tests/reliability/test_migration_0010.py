"""0010 (a run's site-adaptation origin, per-evaluation drift) down and up again with data, on
SQLite and, with CXR_TEST_POSTGRES_URL, PostgreSQL."""

from __future__ import annotations

from sqlalchemy import inspect, select, text

from db import migrate
from db.models import Dataset, Evaluation, Run
from db.session import get_engine, session_scope
from tests.reliability.test_migrations_data import store_url  # noqa: F401 - the fixture


def _columns(url: str, table: str) -> set[str]:
    return {column["name"] for column in inspect(get_engine(url)).get_columns(table)}


def test_adaptation_migration_down_and_up_with_data(store_url: str) -> None:  # noqa: F811
    migrate.upgrade(store_url)
    with session_scope(write=True, url=store_url) as session:
        site = Dataset(name="site", root="/site", synthetic=False, has_official_test=False)
        session.add(site)
        session.flush()
        source = Run(name="source", arch="resnet18", config={}, seed=0, device="cpu",
                     code_version="x", status="completed")
        session.add(source)
        session.flush()
        adapted = Run(name="adapted", arch="resnet18", config={}, seed=0, device="cpu",
                      code_version="x", status="completed", adapted_from_run_id=source.id,
                      adapted_on_dataset_id=site.id)
        session.add(adapted)
        session.flush()
        session.add(Evaluation(run_id=adapted.id, split="external", dataset_id=site.id,
                               status="completed", drift_psi=0.4, drift_ks=0.3))
    migrate.downgrade(store_url, "0009")
    assert "adapted_from_run_id" not in _columns(store_url, "runs")
    assert "drift_psi" not in _columns(store_url, "evaluations")
    with get_engine(store_url).connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM runs")).scalar() == 2
        assert connection.execute(text("SELECT COUNT(*) FROM evaluations")).scalar() == 1
    migrate.upgrade(store_url)
    assert migrate.current_revision(store_url) == migrate.head_revision()
    with session_scope(write=True, url=store_url) as session:
        runs = session.scalars(select(Run).order_by(Run.id)).all()
        assert [run.name for run in runs] == ["source", "adapted"]
        assert runs[1].adapted_from_run_id is None  # the origin did not survive the downgrade
        assert session.scalar(select(Evaluation.drift_psi)) is None
        runs[1].adapted_from_run_id = runs[0].id
    with session_scope(write=True, url=store_url) as session:
        session.delete(session.get(Run, runs[0].id))
    with session_scope(url=store_url) as session:  # ON DELETE SET NULL keeps the adapted run
        assert session.scalar(select(Run.adapted_from_run_id)) is None
