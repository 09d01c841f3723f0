"""0018 (label_issues: cleanlab's ranking of a crossval run) up, down and up again with data,
on SQLite and, with CXR_TEST_POSTGRES_URL, PostgreSQL."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from db import migrate
from db.session import get_engine
from tests.reliability.test_migrations_data import store_url  # noqa: F401 - the fixture

REVISION, PREVIOUS = "0018", "0017"  # migrations/versions/0018_label_issues.py


def _tables(url: str, *names: str) -> dict[str, sa.Table]:
    metadata = sa.MetaData()
    metadata.reflect(get_engine(url), only=names)
    return metadata.tables


def _fill(url: str) -> dict[str, int]:
    """A crossval run with one out-of-fold prediction, as the revision before stores it."""
    tables = _tables(url, "datasets", "images", "runs", "evaluations", "predictions")
    when = datetime(2026, 1, 1)
    with get_engine(url).begin() as connection:
        dataset = connection.execute(tables["datasets"].insert().values(
            name="d", root="/d", synthetic=False, has_official_test=False,
            created_at=when)).inserted_primary_key[0]
        image = connection.execute(tables["images"].insert().values(
            dataset_id=dataset, rel_path="NORMAL/a.jpeg", label=0, sha256="0" * 64,
            source_folder="train", patient_id="p1", status="ok")).inserted_primary_key[0]
        run = connection.execute(tables["runs"].insert().values(
            name="cv", arch="small_cnn", status="completed", seed=0, device="cpu",
            code_version="x", created_at=when, threshold=0.5, threshold_rule="fixed:0.5",
            config={"origin": "crossval", "folds": 3})).inserted_primary_key[0]
        evaluation = connection.execute(tables["evaluations"].insert().values(
            run_id=run, split="oof", dataset_id=dataset, status="completed", n_images=1,
            created_at=when)).inserted_primary_key[0]
        prediction = connection.execute(tables["predictions"].insert().values(
            evaluation_id=evaluation, image_id=image, probability=0.9, predicted_label=1,
            true_label=0, correct=False)).inserted_primary_key[0]
    return {"run_id": run, "image_id": image, "prediction_id": prediction}


def _rank(url: str, ids: dict[str, int]) -> None:
    issues = _tables(url, "label_issues")["label_issues"]
    with get_engine(url).begin() as connection:
        connection.execute(issues.insert().values(**ids, fold=1, label_quality=0.1, rank=1,
                                                  suspected=True))
    with get_engine(url).connect() as connection:
        assert connection.execute(sa.select(issues.c.rank, issues.c.suspected)).all() == [
            (1, True)]


def test_label_issues_up_down_up_with_data(store_url: str) -> None:  # noqa: F811
    migrate.upgrade(store_url, PREVIOUS)
    ids = _fill(store_url)
    migrate.upgrade(store_url, REVISION)
    _rank(store_url, ids)
    migrate.downgrade(store_url, PREVIOUS)
    names = sa.inspect(get_engine(store_url)).get_table_names()
    assert "label_issues" not in names and "predictions" in names
    with get_engine(store_url).connect() as connection:
        assert connection.execute(sa.text("SELECT COUNT(*) FROM predictions")).scalar() == 1
    migrate.upgrade(store_url)
    _rank(store_url, ids)
    runs = _tables(store_url, "runs")["runs"]
    with get_engine(store_url).begin() as connection:  # a deleted run takes its ranking along
        connection.execute(runs.delete())
    with get_engine(store_url).connect() as connection:
        assert connection.execute(sa.text("SELECT COUNT(*) FROM label_issues")).scalar() == 0
