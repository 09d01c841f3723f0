"""0015 (feature maps, map points, look-alike indexes): up, down and up with rows, on SQLite
and on PostgreSQL, and the upgraded schema matches the models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from db import migrate
from db.models import Base
from db.session import dispose_engines, get_engine
from tests.conftest import create_postgres_database, postgres_admin_url

TABLES = {"feature_maps", "map_points", "lookalike_indexes"}


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    else:
        admin = postgres_admin_url()
        if not admin:
            pytest.skip("CXR_TEST_POSTGRES_URL is not set (CI sets it and starts PostgreSQL)")
        yield create_postgres_database(admin)
    dispose_engines()


def _fill(url: str) -> None:
    with get_engine(url).begin() as connection:
        for statement in (
                "INSERT INTO datasets (id, name, root, synthetic, has_official_test, created_at)"
                " VALUES (1, 'd', '/data', false, false, '2026-01-01')",
                "INSERT INTO images (id, dataset_id, rel_path, sha256, label, source_folder, "
                "patient_id, status) VALUES (1, 1, 'a.png', 'x', 0, '', 'p', 'ok')",
                "INSERT INTO runs (id, name, arch, status, config, seed, device, code_version, "
                "created_at, threshold, threshold_rule, temperature, logit_offset) VALUES "
                "(1, 'r', 'small_cnn', 'completed', '{}', 0, 'cpu', 'v', '2026-01-01', 0.5, "
                "'fixed:0.5', 1.0, 0.0)",
                "INSERT INTO evaluations (id, run_id, split, status, n_images, created_at) "
                "VALUES (1, 1, 'test', 'completed', 1, '2026-01-01')",
                "INSERT INTO feature_maps VALUES (1, 'runs/1/eval-1/features.npz', 'pca', 128, "
                "1, 0.1, '2026-01-01')",
                "INSERT INTO map_points VALUES (1, 1, 0.5, -0.5)",
                "INSERT INTO lookalike_indexes VALUES (1, 'runs/1/lookalikes.npz', 1, 0.2, "
                "'2026-01-01')"):
            connection.execute(text(statement))


def test_0015_up_down_up(store_url: str) -> None:
    migrate.upgrade(store_url)
    engine = get_engine(store_url)
    assert TABLES <= set(inspect(engine).get_table_names())
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    _fill(store_url)
    migrate.downgrade(store_url, "0014")
    assert not TABLES & set(inspect(engine).get_table_names())
    with engine.connect() as connection:  # what 0014 had is kept
        assert connection.execute(text("SELECT COUNT(*) FROM evaluations")).scalar() == 1
    migrate.upgrade(store_url)
    assert TABLES <= set(inspect(engine).get_table_names())
    with engine.connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM map_points")).scalar() == 0
    _fill_again = "INSERT INTO feature_maps VALUES (1, 'p', 'pca', 2, 1, 0.1, '2026-01-01')"
    with engine.begin() as connection:
        connection.execute(text(_fill_again))
        connection.execute(text("DELETE FROM evaluations"))  # cascades to the map
        assert connection.execute(text("SELECT COUNT(*) FROM feature_maps")).scalar() == 0
