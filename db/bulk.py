"""Bulk loading of generated rows, for the dashboard benches (bench/fill_dashboard_db.py).

The bench draws the values (probabilities, metrics, CAM shares); this module writes them.
Prediction rows go in through the driver's bulk path (sqlite3 executemany, PostgreSQL COPY):
the ORM's per-row overhead would make a 5.8M-row store take longer to fill than to measure.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.orm import Session

from db.attention import aggregate_attention
from db.errors import UserError
from db.models import (
    Dataset,
    Epoch,
    Evaluation,
    Image,
    Prediction,
    Run,
    RunMetric,
    Split,
    SplitAssignment,
)
from db.session import get_engine, session_scope

GENERATED_DATASET = "bench (generated rows)"
# A generated prediction row: these columns, after its evaluation id.
PREDICTION_COLUMNS = ("image_id", "probability", "predicted_label", "true_label", "correct",
                      "cam_path", "border_share", "lung_share", "peak_in_lung")


@dataclass(frozen=True)
class GeneratedEvaluation:
    split: str
    roc_curve: dict
    metrics: dict[str, dict]  # threshold rule -> RunMetric values
    predictions: list[tuple]  # PREDICTION_COLUMNS; the cam_path may hold "{evaluation_id}"


@dataclass(frozen=True)
class GeneratedStore:
    dataset_id: int
    split_id: int
    runs_held: int


def open_generated_store(labels: list[int], subsets: list[str]) -> GeneratedStore:
    """The dataset, split and runs held of a store of generated rows, made if it is empty.

    A store holding anything else is refused: the bench never writes into real results.
    """
    with session_scope(write=True) as session:
        dataset = session.execute(select(Dataset.id, Dataset.name)).first()
        if dataset is None:
            return _create_dataset(session, labels, subsets)
        if dataset.name != GENERATED_DATASET or session.scalar(
                select(func.count()).select_from(Image)) != len(labels):
            raise UserError(f"the store holds another database (not {len(labels)} generated "
                            "images); give the bench an empty store")
        runs_held = session.scalar(select(func.count()).select_from(Run)) or 0
        return GeneratedStore(dataset.id, session.scalar(select(Split.id)), runs_held)


def _create_dataset(session: Session, labels: list[int], subsets: list[str]) -> GeneratedStore:
    dataset_id = session.execute(insert(Dataset).returning(Dataset.id), [{
        "name": GENERATED_DATASET, "root": "/nonexistent/bench-data",
        "synthetic": True, "has_official_test": False}]).scalar_one()
    split_id = session.execute(insert(Split).returning(Split.id), [{
        "dataset_id": dataset_id, "seed": 0, "val_fraction": 0.2,
        "test_fraction": 0.8}]).scalar_one()
    session.execute(insert(Image), [{
        "id": i + 1, "dataset_id": dataset_id, "rel_path": f"img/{i + 1}.jpeg",
        "sha256": f"{i + 1:064x}", "label": int(label), "source_folder": "",
        "patient_id": f"person{i // 2}", "subtype": "bacteria" if label else None,
        "width": 1024, "height": 1024, "status": "ok"} for i, label in enumerate(labels)])
    session.execute(insert(SplitAssignment), [{
        "split_id": split_id, "image_id": i + 1, "subset": str(subset)}
        for i, subset in enumerate(subsets)])
    return GeneratedStore(dataset_id, split_id, runs_held=0)


def _bulk_insert_predictions(session: Session, evaluation_id: int, rows: list[tuple]) -> None:
    """Rows in PREDICTION_COLUMNS order, through the driver inside the session's transaction."""
    rows = [(evaluation_id, *row[:5], row[5].format(evaluation_id=evaluation_id), *row[6:])
            for row in rows]
    cursor = session.connection().connection.cursor()
    columns = ", ".join(("evaluation_id", *PREDICTION_COLUMNS))
    if session.get_bind().dialect.name == "postgresql":
        buffer = io.StringIO()
        csv.writer(buffer).writerows(rows)
        buffer.seek(0)
        cursor.copy_expert(f"COPY predictions ({columns}) FROM STDIN WITH (FORMAT csv)", buffer)
    else:
        marks = ", ".join("?" * (len(PREDICTION_COLUMNS) + 1))
        cursor.executemany(f"INSERT INTO predictions ({columns}) VALUES ({marks})", rows)
    cursor.close()


def add_generated_run(run: dict, epochs: list[dict], dataset_id: int,
                      evaluations: list[GeneratedEvaluation]) -> None:
    """One run (with an explicit id), its epochs and completed evaluations, in one transaction."""
    with session_scope(write=True) as session:
        session.execute(insert(Run), [run])
        session.execute(insert(Epoch), [{"run_id": run["id"], **epoch} for epoch in epochs])
        for evaluation in evaluations:
            evaluation_id = session.execute(insert(Evaluation).returning(Evaluation.id), [{
                "run_id": run["id"], "split": evaluation.split, "dataset_id": dataset_id,
                "status": "completed", "n_images": len(evaluation.predictions),
                "seconds": 60.0, "roc_curve": evaluation.roc_curve}]).scalar_one()
            session.execute(insert(RunMetric), [
                {"evaluation_id": evaluation_id, "threshold_rule": rule, **values}
                for rule, values in evaluation.metrics.items()])
            _bulk_insert_predictions(session, evaluation_id, evaluation.predictions)
            session.execute(update(Evaluation).where(Evaluation.id == evaluation_id).values(
                attention=aggregate_attention(session, evaluation_id)))


def after_bulk_load() -> None:
    """Fresh planner statistics (so no autovacuum ANALYZE starts inside the timed calls), and on
    PostgreSQL the id sequences moved past the explicit run and image ids."""
    engine = get_engine()
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            for table in ("runs", "images"):
                connection.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"))
        connection.execute(text("ANALYZE"))
    engine.dispose()


def count_predictions() -> int:
    with session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(Prediction)))
