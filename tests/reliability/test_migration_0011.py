"""0011 (one threshold-rule vocabulary, attention_seconds, predictions.lung_outline) up, down and
up again with data, on SQLite and, with CXR_TEST_POSTGRES_URL, PostgreSQL."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from db import migrate
from db.session import get_engine
from tests.reliability.test_migrations_data import store_url  # noqa: F401 - the fixture

# runs.threshold_rule as 0010 stored it -> as 0011 does (the --threshold-rule spelling).
RUN_RULES = {"youden on val": "youden", "youden middle of tie on val": "youden-middle",
             "sensitivity >= 0.95 on val": "sensitivity:0.95", "fixed 0.5": "fixed:0.5"}
METRIC = {"threshold": 0.5, "accuracy": 0.8, "precision": 0.7, "sensitivity": 0.9,
          "specificity": 0.6, "f1": 0.75, "brier": 0.1, "ece": 0.05, "tn": 1, "fp": 2, "fn": 3,
          "tp": 4}


def _tables(url: str) -> dict[str, sa.Table]:
    metadata = sa.MetaData()
    metadata.reflect(get_engine(url), only=("datasets", "images", "runs", "evaluations",
                                            "predictions", "run_metrics"))
    return metadata.tables


def _fill_at_0010(url: str) -> None:
    tables = _tables(url)
    with get_engine(url).begin() as connection:
        dataset_id = connection.execute(tables["datasets"].insert().values(
            name="d", root="/d", synthetic=False, has_official_test=False,
            created_at=datetime(2026, 1, 1))).inserted_primary_key[0]
        image_id = connection.execute(tables["images"].insert().values(
            dataset_id=dataset_id, rel_path="NORMAL/a.jpeg", label=0, sha256="0" * 64,
            source_folder="train", patient_id="p1", status="ok", width=100,
            height=100)).inserted_primary_key[0]
        for old_rule in RUN_RULES:
            run_id = connection.execute(tables["runs"].insert().values(
                name=old_rule, arch="small_cnn", status="completed", config={}, seed=0,
                device="cpu", code_version="x", created_at=datetime(2026, 1, 1),
                threshold=0.5 if old_rule == "fixed 0.5" else 0.3,
                threshold_rule=old_rule)).inserted_primary_key[0]
            evaluation_id = connection.execute(tables["evaluations"].insert().values(
                run_id=run_id, split="val", dataset_id=dataset_id, status="completed",
                n_images=1, created_at=datetime(2026, 1, 1),
                cam_metrics_seconds=1.5)).inserted_primary_key[0]
            connection.execute(tables["predictions"].insert().values(
                evaluation_id=evaluation_id, image_id=image_id, probability=0.4,
                predicted_label=0, true_label=0, correct=True, lung_share=0.7))
            # 0010's words: "0.5", and "youden" for the operating point whatever the rule; a run
            # at the fixed 0.5 stored only its "0.5" row.
            rules = ["0.5"] if old_rule == "fixed 0.5" else ["0.5", "youden"]
            connection.execute(tables["run_metrics"].insert(), [
                {"evaluation_id": evaluation_id, "threshold_rule": rule, **METRIC}
                for rule in rules])


def _stored(url: str, seconds_column: str) -> tuple[dict, dict, list]:
    """run name -> its threshold_rule; run name -> its metric rows' rules; seconds."""
    tables = _tables(url)
    runs, evaluations, metrics = tables["runs"], tables["evaluations"], tables["run_metrics"]
    with get_engine(url).connect() as connection:
        rules = dict(connection.execute(sa.select(runs.c.name, runs.c.threshold_rule)).all())
        metric_rules: dict[str, list[str]] = {}
        for name, rule in connection.execute(
                sa.select(runs.c.name, metrics.c.threshold_rule)
                .join(evaluations, evaluations.c.run_id == runs.c.id)
                .join(metrics, metrics.c.evaluation_id == evaluations.c.id)
                .order_by(metrics.c.threshold_rule)).all():
            metric_rules.setdefault(name, []).append(rule)
        seconds = connection.execute(sa.select(evaluations.c[seconds_column])).scalars().all()
    return rules, metric_rules, seconds


def _assert_new_vocabulary(url: str) -> None:
    rules, metric_rules, seconds = _stored(url, "attention_seconds")
    assert rules == RUN_RULES
    for old_rule, new_rule in RUN_RULES.items():
        # A metric row names the rule whose threshold it is at: 0.5, and the run's own rule.
        expected = ["fixed:0.5"] if new_rule == "fixed:0.5" else sorted(["fixed:0.5", new_rule])
        assert metric_rules[old_rule] == expected
    assert seconds == [1.5] * len(RUN_RULES)


def test_vocabulary_migration_up_down_up_with_data(store_url: str) -> None:  # noqa: F811
    migrate.upgrade(store_url, "0010")
    _fill_at_0010(store_url)
    migrate.upgrade(store_url, "0011")
    assert migrate.current_revision(store_url) == "0011"
    _assert_new_vocabulary(store_url)
    predictions = _tables(store_url)["predictions"]
    outline = {"height": 64, "width": 64, "polygons": [[1, 1, 30, 1, 30, 60]]}
    with get_engine(store_url).begin() as connection:
        connection.execute(predictions.update().values(lung_outline=outline))
    with get_engine(store_url).connect() as connection:
        assert connection.execute(sa.select(predictions.c.lung_outline)).scalar() == outline

    migrate.downgrade(store_url, "0010")
    rules, metric_rules, seconds = _stored(store_url, "cam_metrics_seconds")
    assert rules == {old: old for old in RUN_RULES}  # the old words, exactly
    assert all(metric_rules[old] == (["0.5"] if old == "fixed 0.5" else ["0.5", "youden"])
               for old in RUN_RULES)
    assert seconds == [1.5] * len(RUN_RULES)
    assert "lung_outline" not in _tables(store_url)["predictions"].c

    migrate.upgrade(store_url)
    _assert_new_vocabulary(store_url)
    with get_engine(store_url).connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(
            _tables(store_url)["predictions"])).scalar() == len(RUN_RULES)
