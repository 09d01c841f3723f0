"""Run aliases on a real store (SQLite, and PostgreSQL when CXR_TEST_POSTGRES_URL is set): the
promotion checks, the history, the audit, and migration 0016 up, down and up with data."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect, select, text

from db import migrate, registry
from db.audit import Actor, recent
from db.errors import UserError
from db.models import Base, Run, Upload, UploadScore
from db.session import dispose_engines, get_engine, session_scope
from tests.conftest import create_postgres_database, cxr_environment, postgres_admin_url

ADMIN = Actor("ana", None)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated store of each kind, current for the test; yields its URL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        admin = postgres_admin_url()
        if not admin:
            pytest.skip("CXR_TEST_POSTGRES_URL is not set (CI sets it and starts PostgreSQL)")
        url = create_postgres_database(admin)
    with cxr_environment(tmp_path / "home", database_url=url):
        yield url
    dispose_engines()


def _run(name: str, status: str = "failed", warning: str | None = None,
         arch: str = "small_cnn", checkpoint: str | None = "runs/best.pt",
         config: dict | None = None) -> int:
    with session_scope(write=True) as session:
        row = Run(name=name, arch=arch, config=config or {}, seed=0, device="cpu",
                  code_version="test", status=status, health_warning=warning,
                  checkpoint_path=checkpoint)
        session.add(row)
        session.flush()
        return row.id


def test_promotion_checks_history_and_audit(store: str) -> None:
    broken = _run("broken", warning="constant predictions: 90% of the val images ...")
    other = _run("other")
    with pytest.raises(registry.PromotionRefused) as refused:
        registry.promote(broken, "production", ADMIN)
    message = str(refused.value)
    assert "is failed, not completed" in message and "unhealthy (constant predictions)" in message
    assert "never evaluated on test" in message and "--force" in message
    assert registry.current_aliases() == []  # a refusal stores nothing

    first = registry.promote(broken, "production", ADMIN, force=True)
    assert first.current and first.forced_past.count(";") == 2
    second = registry.promote(other, "production", Actor("ben"), force=True)
    assert [a.run_id for a in registry.current_aliases()] == [other]
    assert registry.production_run_id() == other
    history = registry.alias_history("production")
    assert [(a.run_id, a.current, a.replaced_by) for a in history] == [
        (other, True, None), (broken, False, "ben")]
    assert history[1].replaced_at == second.set_at  # no gap: which run held it is always known
    assert registry.aliases_by_run() == {other: ["production"]}

    registry.remove_alias("production", ADMIN)
    assert registry.production_run_id() is None and len(registry.alias_history()) == 2
    events = [(e.actor, e.action, e.target) for e in recent(10)]
    assert ("ana", registry.DEMOTED, f"run {other}") in events
    assert ("ben", registry.PROMOTED, f"run {other}") in events
    assert ("ana", registry.PROMOTED, f"run {broken}") in events

    for bad in ("Production", "", "prod uction", "x" * 61, "../p"):
        with pytest.raises(UserError, match="alias"):
            registry.promote(other, bad, ADMIN, force=True)
    with pytest.raises(UserError, match="does not exist"):
        registry.promote(10**6, "production", ADMIN, force=True)
    with pytest.raises(UserError, match="no run holds alias staging"):
        registry.remove_alias("staging", ADMIN)


def test_a_run_that_cannot_answer_uploads_is_never_promoted(store: str) -> None:
    """No checkpoint (imported, crossval, failed before saving one): refused even forced, with
    the one reason that matters; a run id the database cannot hold is a one-line refusal."""
    external = _run("sklearn", status="completed", arch="external", checkpoint=None)
    crossval = _run("cv", status="completed", checkpoint=None, config={"origin": "crossval"})
    failed = _run("failed-early", checkpoint=None)
    for run_id, kind in ((external, "imported run"), (crossval, "crossval run"),
                         (failed, "failed run")):
        for force in (False, True):
            with pytest.raises(UserError, match=f"run {run_id} cannot answer uploads: it is "
                                                f"an? {kind}"):
                registry.promote(run_id, "staging", ADMIN, force=force)
    assert registry.current_aliases() == []
    for bad in (10**20, -3, 0, 2**31):
        with pytest.raises(UserError, match="is not a run id"):
            registry.promote(bad, "production", ADMIN, force=True)


def test_one_current_row_per_alias_is_enforced_by_the_database(store: str) -> None:
    from sqlalchemy.exc import IntegrityError

    from db.models import RunAlias, utcnow

    run_id = _run("r")
    registry.promote(run_id, "production", ADMIN, force=True)
    with pytest.raises(IntegrityError), session_scope(write=True) as session:
        session.add(RunAlias(alias="production", run_id=run_id, set_by="x", set_at=utcnow()))


def test_migration_0016_up_down_up_keeps_data(store: str) -> None:
    run_id = _run("kept")
    registry.promote(run_id, "production", ADMIN, force=True)
    with session_scope(write=True) as session:
        upload = Upload(sha256="a" * 64, stored_path="uploads/x.png", file_format="PNG",
                        size_bytes=1)
        session.add(upload)
        session.flush()
        session.add(UploadScore(upload_id=upload.id, run_id=run_id, probability=0.4,
                                predicted_label=0, threshold=0.5, inference_ms=1.0,
                                from_production=True))
    engine = get_engine(store)
    migrate.downgrade(store, "0014")
    assert "run_aliases" not in inspect(engine).get_table_names()
    assert "from_production" not in {c["name"] for c in inspect(engine).get_columns(
        "upload_scores")}
    migrate.upgrade(store)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
        assert connection.execute(text("SELECT COUNT(*) FROM upload_scores")).scalar() == 1
    with session_scope() as session:
        assert session.scalar(select(UploadScore.from_production)) is None  # unknown, not False
    assert registry.current_aliases() == []
    assert registry.promote(run_id, "production", ADMIN, force=True).current


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=70))
def test_alias_names_are_accepted_only_in_their_one_spelling(name: str) -> None:
    """Any text is either a valid alias, returned unchanged, or one UserError naming it."""
    if re.fullmatch(r"[a-z][a-z0-9_-]{0,59}", name):
        assert registry.check_alias(name) == name
    else:
        with pytest.raises(UserError, match="alias"):
            registry.check_alias(name)
