"""Migrations with data in the database, on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, text

from db import migrate
from db.models import Dataset, Prediction, Review, Run
from db.session import dispose_engines, get_engine, session_scope
from tests.conftest import create_postgres_database, cxr_environment, postgres_admin_url


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


def _counts(url: str) -> dict[str, int]:
    with get_engine(url).connect() as connection:
        return {table: connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar()
                for table in ("datasets", "images", "runs", "epochs", "evaluations",
                              "predictions", "run_metrics", "reviews")}


def test_upgrade_downgrade_upgrade_keeps_data(store_url: str, tmp_path: Path,
                                              real_subset: Path) -> None:
    from engine.training.train import TrainConfig, main

    with cxr_environment(tmp_path / "home", database_url=store_url):
        run_id = main(TrainConfig(arch="small_cnn", data=str(real_subset), epochs=1,
                                  image_size=64, batch_size=16))
        with session_scope(write=True) as session:
            image_id = session.scalar(select(Prediction.image_id))
            session.add(Review(image_id=image_id, run_id=run_id, verdict="ambiguous",
                               note="kept across migrations", reviewer="qa"))
        before = _counts(store_url)
        assert before["predictions"] > 0 and before["reviews"] == 1
        head = migrate.head_revision()
        migrate.downgrade(store_url, "-1")
        assert migrate.current_revision(store_url) not in (None, head)
        assert _counts(store_url) == before
        migrate.upgrade(store_url)
        assert _counts(store_url) == before
        assert migrate.current_revision(store_url) == migrate.head_revision()
        with session_scope() as session:
            assert session.get(Run, run_id).status == "completed"


def test_database_from_older_revision_upgrades_on_start(store_url: str, tmp_path: Path) -> None:
    migrate.upgrade(store_url, "0001")
    with get_engine(store_url).begin() as connection:
        connection.execute(Dataset.__table__.insert(), [{
            "name": "old", "root": "/old/root", "synthetic": False, "has_official_test": False,
            "created_at": datetime(2026, 1, 1)}])
    assert "reviews" not in inspect(get_engine(store_url)).get_table_names()
    dispose_engines()
    with cxr_environment(tmp_path / "home", database_url=store_url):  # runs init_db()
        assert migrate.current_revision() == migrate.head_revision()
        with session_scope() as session:
            assert session.scalar(select(func.count(Dataset.id))) == 1
            assert session.scalar(select(Dataset.name)) == "old"


def test_users_and_audit_migration_down_and_up_with_data(store_url: str) -> None:
    """0009 (users, audit, reviewer and uploader ids, de-identified tags) down and up again."""
    from db.models import AuditEvent, Image, Upload, User

    migrate.upgrade(store_url)
    with session_scope(write=True, url=store_url) as session:
        dataset = Dataset(name="d", root="/data", synthetic=False, has_official_test=False)
        session.add(dataset)
        session.flush()
        image = Image(dataset_id=dataset.id, rel_path="a.jpeg", sha256="0" * 64, label=1,
                      source_folder="", patient_id="p1")
        user = User(name="ana", password_hash="scrypt:x", role="reviewer", active=True)
        session.add_all([image, user])
        session.flush()
        session.add_all([
            Review(image_id=image.id, verdict="ambiguous", note="", reviewer="ana",
                   user_id=user.id),
            Upload(sha256="1" * 64, stored_path="uploads/x.dcm",
                   file_format="DICOM", size_bytes=10, uploaded_by_id=user.id,
                   uploaded_by="ana", deidentified='["PatientID (0010,0020): emptied"]'),
            AuditEvent(actor="ana", user_id=user.id, action="reviewed", target="image 1")])
    migrate.downgrade(store_url, "0008")
    names = set(inspect(get_engine(store_url)).get_table_names())
    assert "users" not in names and "audit_events" not in names
    assert "user_id" not in {c["name"] for c in inspect(get_engine(store_url)).get_columns(
        "reviews")}
    with get_engine(store_url).connect() as connection:
        assert connection.execute(text("SELECT reviewer FROM reviews")).scalar() == "ana"
        assert connection.execute(text("SELECT COUNT(*) FROM uploads")).scalar() == 1
    migrate.upgrade(store_url)
    assert migrate.current_revision(store_url) == migrate.head_revision()
    with session_scope(url=store_url) as session:
        review = session.scalar(select(Review))
        assert (review.reviewer, review.user_id) == ("ana", None)  # the link did not survive
        assert session.scalar(select(func.count(User.id))) == 0
        assert session.scalar(select(Upload.deidentified)) is None


def test_sign_in_failures_move_to_their_own_table_and_back(store_url: str) -> None:
    """Counted failures survive the move from users to sign_in_failures, down and up."""
    migrate.upgrade(store_url, "0011")
    with get_engine(store_url).begin() as connection:
        connection.execute(text(
            "INSERT INTO users (name, password_hash, role, active, created_at, failed_signins, "
            "last_failed_at) VALUES ('ana', 'scrypt:x', 'viewer', :yes, '2026-01-01', 4, "
            "'2026-01-02 03:04:05'), ('bo', 'scrypt:y', 'viewer', :yes, '2026-01-01', 0, NULL)"),
            {"yes": True})
    migrate.upgrade(store_url)
    with get_engine(store_url).connect() as connection:
        assert connection.execute(text(
            "SELECT name, failures FROM sign_in_failures")).all() == [("ana", 4)]
        assert set(connection.execute(text("SELECT session_version FROM users")).scalars()) \
            == {0}
    migrate.downgrade(store_url, "0011")
    with get_engine(store_url).connect() as connection:
        assert dict(connection.execute(text("SELECT name, failed_signins FROM users")).all()) \
            == {"ana": 4, "bo": 0}
