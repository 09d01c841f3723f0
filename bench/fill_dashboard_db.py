"""Grow a results database to N runs x 5,840 predictions for the dashboard benches.

    python bench/fill_dashboard_db.py --home /tmp/cxr-bench [--runs 1000] [--images 5840]
    python bench/fill_dashboard_db.py --postgres [--runs 1000]     # bench/postgres.py's server

The schema comes from the migrations (init_db). Filling is incremental and deterministic: run k
always gets the same values (its generator is seeded by (seed, k)), so a store grown to 100 runs
and later to 1,000 holds the same data as a fill straight to 1,000 (row ids may differ after an
interrupted fill), and a bench can measure at each size on the way up. A store never shrinks:
asking for fewer runs than it holds is refused. Each run gets a val evaluation (20% of the
images) and a test evaluation (80%), their metric rows and CAM pre-aggregates, and per-
prediction CAM metrics, so it holds exactly `--images` predictions; probabilities are drawn so
each run has a plausible AUC. The dataset is flagged synthetic: these are generated rows, not a
real model's output.

Prediction rows go in through the driver's bulk path (sqlite3 executemany, PostgreSQL COPY):
the ORM's per-row overhead would make a 5.8M-row store take longer to fill than to measure.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PREDICTION_COLUMNS = ("evaluation_id", "image_id", "probability", "predicted_label",
                      "true_label", "correct", "cam_path", "border_share", "lung_share",
                      "peak_in_lung")


def use_store(home: Path, url: str | None = None) -> str:
    """Point this process at the store (SQLite under `home`, or `url`); return its URL."""
    from db.session import database_url, dispose_engines

    dispose_engines()
    os.environ["CXR_HOME"] = str(home)
    if url:
        os.environ["CXR_DATABASE_URL"] = url
    else:
        os.environ.pop("CXR_DATABASE_URL", None)
    return database_url()


def _labels(seed: int, n_images: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = (rng.random(n_images) < 0.73).astype(int)  # Kaggle's balance: ~73% pneumonia
    n_val = n_images // 5
    return labels, np.array(["val"] * n_val + ["test"] * (n_images - n_val))


def _create_dataset(session, labels: np.ndarray, subsets: np.ndarray) -> tuple[int, int]:  # noqa: ANN001
    from sqlalchemy import insert

    from db.models import Dataset, Image, Split, SplitAssignment

    n_images = len(labels)
    dataset_id = session.execute(insert(Dataset).returning(Dataset.id), [{
        "name": "bench (generated rows)", "root": "/nonexistent/bench-data",
        "synthetic": True, "has_official_test": False}]).scalar_one()
    split_id = session.execute(insert(Split).returning(Split.id), [{
        "dataset_id": dataset_id, "seed": 0, "val_fraction": 0.2,
        "test_fraction": 0.8}]).scalar_one()
    session.execute(insert(Image), [{
        "id": i + 1, "dataset_id": dataset_id, "rel_path": f"img/{i + 1}.jpeg",
        "sha256": f"{i + 1:064x}", "label": int(labels[i]), "source_folder": "",
        "patient_id": f"person{i // 2}", "subtype": "bacteria" if labels[i] else None,
        "width": 1024, "height": 1024, "status": "ok"} for i in range(n_images)])
    session.execute(insert(SplitAssignment), [{
        "split_id": split_id, "image_id": i + 1, "subset": str(subsets[i])}
        for i in range(n_images)])
    return dataset_id, split_id


def _bulk_insert_predictions(session, rows: list[tuple]) -> None:  # noqa: ANN001
    """Rows in PREDICTION_COLUMNS order, through the driver inside the session's transaction."""
    cursor = session.connection().connection.cursor()
    columns = ", ".join(PREDICTION_COLUMNS)
    if session.get_bind().dialect.name == "postgresql":
        buffer = io.StringIO()
        csv.writer(buffer).writerows(rows)
        buffer.seek(0)
        cursor.copy_expert(f"COPY predictions ({columns}) FROM STDIN WITH (FORMAT csv)", buffer)
    else:
        marks = ", ".join("?" * len(PREDICTION_COLUMNS))
        cursor.executemany(f"INSERT INTO predictions ({columns}) VALUES ({marks})", rows)
    cursor.close()


def _add_run(session, run_id: int, seed: int, labels: np.ndarray, subsets: np.ndarray,  # noqa: ANN001
             dataset_id: int, split_id: int) -> None:
    from sqlalchemy import insert, update

    from db.attention import aggregate_attention
    from db.models import Epoch, Evaluation, Run, RunMetric
    from engine.metrics import binary_metrics, roc_points, youden_threshold

    rng = np.random.default_rng([seed, run_id])
    skill = 0.8 + 1.2 * rng.random()
    logits = rng.normal(0.0, 1.0, len(labels)) + (labels * 2 - 1) * skill
    probability = 1.0 / (1.0 + np.exp(-logits))
    lung_share = rng.beta(5, 2, len(labels))
    border_share = rng.beta(2, 8, len(labels))
    peak_in_lung = rng.random(len(labels)) < 0.8
    val = subsets == "val"
    threshold = youden_threshold(labels[val], probability[val])
    started = datetime(2026, 1, 1) + timedelta(hours=run_id)
    session.execute(insert(Run), [{
        "id": run_id, "name": f"bench-{run_id}",
        "arch": ("resnet18", "resnet34", "efficientnet_b0")[run_id % 3], "status": "completed",
        "config": {"image_size": 224, "batch_size": 32, "schedule": "cyclic", "epochs": 10},
        "seed": run_id, "device": "cpu", "code_version": "bench", "dataset_id": dataset_id,
        "split_id": split_id, "started_at": started,
        "finished_at": started + timedelta(minutes=30), "best_epoch": 8,
        "threshold": threshold, "threshold_rule": "youden on val"}])
    session.execute(insert(Epoch), [{
        "run_id": run_id, "epoch": epoch, "train_loss": 0.7 / epoch, "val_loss": 0.75 / epoch,
        "val_accuracy": 0.7 + 0.02 * epoch, "val_auc": 0.75 + 0.02 * epoch,
        "learning_rate": 1e-3, "seconds": 180.0, "images_per_second": 60.0}
        for epoch in range(1, 11)])
    for split, mask in (("val", val), ("test", ~val)):
        evaluation_id = session.execute(insert(Evaluation).returning(Evaluation.id), [{
            "run_id": run_id, "split": split, "dataset_id": dataset_id, "status": "completed",
            "n_images": int(mask.sum()), "seconds": 60.0,
            "roc_curve": roc_points(labels[mask], probability[mask])}]).scalar_one()
        session.execute(insert(RunMetric), [
            {"evaluation_id": evaluation_id, "threshold_rule": rule,
             **binary_metrics(labels[mask], probability[mask], t).as_dict()}
            for rule, t in (("0.5", 0.5), ("youden", threshold))])
        image_ids = np.flatnonzero(mask) + 1
        p, y = probability[mask], labels[mask]
        predicted = p >= threshold
        _bulk_insert_predictions(session, list(zip(
            [evaluation_id] * len(p), image_ids.tolist(), p.tolist(),
            predicted.astype(int).tolist(), y.tolist(), (predicted == y).tolist(),
            [f"runs/{run_id}/eval-{evaluation_id}/{i}.png" for i in image_ids.tolist()],
            border_share[mask].tolist(), lung_share[mask].tolist(),
            peak_in_lung[mask].tolist(), strict=True)))
        session.execute(update(Evaluation).where(Evaluation.id == evaluation_id).values(
            attention=aggregate_attention(session, evaluation_id)))


def _after_bulk_load() -> None:
    """Fresh planner statistics (so no autovacuum ANALYZE starts inside the timed calls), and on
    PostgreSQL the id sequences moved past the explicit run and image ids."""
    from sqlalchemy import text

    from db.session import get_engine

    engine = get_engine()
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            for table in ("runs", "images"):
                connection.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"))
        connection.execute(text("ANALYZE"))
    engine.dispose()


def fill(n_runs: int, n_images: int = 5840, seed: int = 0, quiet: bool = False) -> int:
    """Grow the current store (see use_store) to `n_runs` runs; return its prediction rows."""
    from sqlalchemy import func, select

    from db.migrate import init_db
    from db.models import Dataset, Image, Prediction, Run, Split
    from db.session import session_scope

    init_db()
    labels, subsets = _labels(seed, n_images)
    with session_scope(write=True) as session:
        dataset = session.execute(select(Dataset.id, Dataset.name)).first()
        if dataset is None:
            dataset_id, split_id = _create_dataset(session, labels, subsets)
        elif dataset.name != "bench (generated rows)" or session.scalar(
                select(func.count()).select_from(Image)) != n_images:
            raise SystemExit(f"{os.environ.get('CXR_DATABASE_URL') or 'this home'} holds "
                             f"another database (not {n_images} generated images); give "
                             "the bench an empty store")
        else:
            dataset_id, split_id = dataset.id, session.scalar(select(Split.id))
        have = session.scalar(select(func.count()).select_from(Run)) or 0
    if have > n_runs:
        raise SystemExit(f"the bench store holds {have} runs, more than the {n_runs} asked for; "
                         "remove it (bench_scaling.py starts from empty) to measure fewer")
    start = time.perf_counter()
    for run_id in range(have + 1, n_runs + 1):
        with session_scope(write=True) as session:
            _add_run(session, run_id, seed, labels, subsets, dataset_id, split_id)
        if not quiet and run_id % 100 == 0:
            print(f"  {run_id} runs, {run_id * n_images:,} predictions, "
                  f"{time.perf_counter() - start:.0f}s", flush=True)
    if n_runs > have:
        _after_bulk_load()
    with session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(Prediction)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", default="/tmp/cxr-bench-dashboard")
    parser.add_argument("--postgres", metavar="DATABASE", nargs="?", const="cxr_bench_dashboard",
                        help="fill this database on bench/postgres.py's server instead")
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--images", type=int, default=5840)
    args = parser.parse_args()
    url = None
    if args.postgres:
        from bench.postgres import database

        url = database(args.postgres)
    use_store(Path(args.home), url)
    start = time.perf_counter()
    rows = fill(args.runs, args.images)
    print(f"{url or args.home}: {rows:,} predictions, filled in "
          f"{time.perf_counter() - start:.0f}s")


if __name__ == "__main__":
    main()
