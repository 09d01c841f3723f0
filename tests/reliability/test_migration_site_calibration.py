"""0019 (site-calibrated runs: their origin, sample and intervals) down and up again with data,
on SQLite and, with CXR_TEST_POSTGRES_URL, PostgreSQL; the upgraded schema matches the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text

from db import migrate
from db.models import Base, Dataset, Run, SiteCalibration
from db.session import get_engine, session_scope
from tests.reliability.test_migrations_data import store_url  # noqa: F401 - the fixture

INTERVALS = {"sensitivity": 0.9, "sensitivity_low": 0.8, "sensitivity_high": 1.0,
             "specificity": 0.85, "specificity_low": 0.7, "specificity_high": 0.95,
             "confidence": 0.95, "n_resamples": 2000}


def _tables(url: str) -> set[str]:
    return set(inspect(get_engine(url)).get_table_names())


def test_site_calibration_migration_down_and_up_with_data(store_url: str) -> None:  # noqa: F811
    migrate.upgrade(store_url)
    with get_engine(store_url).connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []
    with session_scope(write=True, url=store_url) as session:
        sample = Dataset(name="sample", root="/sample", synthetic=False, has_official_test=False)
        source = Run(name="source", arch="resnet18", config={}, seed=0, device="cpu",
                     code_version="x", status="completed")
        session.add_all([sample, source])
        session.flush()
        calibrated = Run(name="calibrated", arch="resnet18", config={}, seed=0, device="cpu",
                         code_version="x", status="completed")
        session.add(calibrated)
        session.flush()
        session.add(SiteCalibration(run_id=calibrated.id, source_run_id=source.id,
                                    sample_dataset_id=sample.id, method="offset",
                                    n_normal=12, n_pneumonia=28, **INTERVALS))
    migrate.downgrade(store_url, "0014")
    assert "site_calibrations" not in _tables(store_url)
    with get_engine(store_url).connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM runs")).scalar() == 2
    migrate.upgrade(store_url)
    assert migrate.current_revision(store_url) == migrate.head_revision()
    with session_scope(write=True, url=store_url) as session:
        assert session.scalar(select(SiteCalibration.run_id)) is None  # gone with the table
        source_id, calibrated_id = session.scalars(select(Run.id).order_by(Run.id)).all()
        sample_id = session.scalar(select(Dataset.id))
        session.add(SiteCalibration(run_id=calibrated_id, source_run_id=source_id,
                                    sample_dataset_id=sample_id, method="threshold",
                                    n_normal=30, n_pneumonia=10, **INTERVALS))
    with session_scope(write=True, url=store_url) as session:
        session.delete(session.get(Run, source_id))
        session.delete(session.get(Dataset, sample_id))
    with session_scope(url=store_url) as session:  # SET NULL keeps the calibrated run's row
        row = session.get(SiteCalibration, calibrated_id)
        assert (row.source_run_id, row.sample_dataset_id, row.n_normal) == (None, None, 30)
    with session_scope(write=True, url=store_url) as session:
        session.delete(session.get(Run, calibrated_id))
    with session_scope(url=store_url) as session:  # CASCADE: the row goes with its run
        assert session.scalar(select(SiteCalibration.run_id)) is None
