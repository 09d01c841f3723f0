"""Fill a results database with 1,000 runs x 5,840 predictions for the dashboard bench.

    python bench/fill_dashboard_db.py --home /tmp/cxr-bench [--runs 1000] [--images 5840]

The schema comes from the migrations (init_db); rows go in with SQLAlchemy core bulk inserts.
Each run gets a val evaluation (20% of the images) and a test evaluation (80%), so it holds
exactly `--images` predictions; probabilities are drawn so each run has a plausible AUC. The
dataset is flagged synthetic: these are generated rows, not a real model's output.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MARKER = "bench-dashboard.done"


def _probabilities(rng: np.random.Generator, labels: np.ndarray, skill: float) -> np.ndarray:
    logits = rng.normal(0.0, 1.0, len(labels)) + (labels * 2 - 1) * skill
    return 1.0 / (1.0 + np.exp(-logits))


def fill(home: Path, n_runs: int, n_images: int, seed: int = 0) -> Path:
    os.environ["CXR_HOME"] = str(home)
    os.environ.pop("CXR_DATABASE_URL", None)
    from sqlalchemy import insert, update

    from db.attention import aggregate_attention
    from db.migrate import init_db
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
    from db.session import session_scope
    from engine.metrics import binary_metrics, roc_points, youden_threshold

    marker = home / MARKER
    if marker.exists() and marker.read_text() == f"{n_runs} {n_images}":
        return home
    if (home / "cxr.db").exists():
        raise SystemExit(f"{home} holds another database; pass an empty --home")
    init_db()
    rng = np.random.default_rng(seed)
    # Kaggle's balance: about 73% pneumonia.
    labels = (rng.random(n_images) < 0.73).astype(int)
    n_val = n_images // 5
    subsets = np.array(["val"] * n_val + ["test"] * (n_images - n_val))
    start = time.perf_counter()
    with session_scope(write=True) as session:
        dataset_id = session.execute(insert(Dataset).returning(Dataset.id), [{
            "name": "bench (generated rows)", "root": str(home / "bench-data"),
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
    base_time = datetime(2026, 1, 1)
    for run_index in range(n_runs):
        run_id = run_index + 1
        skill = 0.8 + 1.2 * rng.random()
        probability = _probabilities(rng, labels, skill)
        val = subsets == "val"
        threshold = youden_threshold(labels[val], probability[val])
        started = base_time + timedelta(hours=run_index)
        with session_scope(write=True) as session:
            session.execute(insert(Run), [{
                "id": run_id, "name": f"bench-{run_id}", "arch": ("resnet18", "resnet34",
                                                                  "efficientnet_b0")[run_id % 3],
                "status": "completed", "config": {"image_size": 224, "batch_size": 32,
                                                  "schedule": "cyclic", "epochs": 10},
                "seed": run_id, "device": "cpu", "code_version": "bench",
                "dataset_id": dataset_id, "split_id": split_id, "started_at": started,
                "finished_at": started + timedelta(minutes=30), "best_epoch": 8,
                "threshold": threshold, "threshold_rule": "youden on val"}])
            session.execute(insert(Epoch), [{
                "run_id": run_id, "epoch": epoch, "train_loss": 0.7 / epoch,
                "val_loss": 0.75 / epoch, "val_accuracy": 0.7 + 0.02 * epoch,
                "val_auc": 0.75 + 0.02 * epoch, "learning_rate": 1e-3, "seconds": 180.0,
                "images_per_second": 60.0} for epoch in range(1, 11)])
            rows = []
            for split, mask in (("val", val), ("test", ~val)):
                evaluation_id = session.execute(insert(Evaluation).returning(Evaluation.id), [{
                    "run_id": run_id, "split": split, "dataset_id": dataset_id,
                    "status": "completed", "n_images": int(mask.sum()), "seconds": 60.0,
                    "roc_curve": roc_points(labels[mask], probability[mask])}]).scalar_one()
                session.execute(insert(RunMetric), [
                    {"evaluation_id": evaluation_id, "threshold_rule": rule,
                     **binary_metrics(labels[mask], probability[mask], t).as_dict()}
                    for rule, t in (("0.5", 0.5), ("youden", threshold))])
                image_ids = np.flatnonzero(mask) + 1
                rows += [{"evaluation_id": evaluation_id, "image_id": int(image_id),
                          "probability": float(p), "predicted_label": int(p >= threshold),
                          "true_label": int(y), "correct": bool((p >= threshold) == y),
                          "cam_path": f"runs/{run_id}/eval-{evaluation_id}/{image_id}.png",
                          "cam_raw_path": None}
                         for image_id, p, y in zip(image_ids, probability[mask], labels[mask],
                                                   strict=True)]
            session.execute(insert(Prediction), rows)
            for evaluation_id in {row["evaluation_id"] for row in rows}:
                session.execute(update(Evaluation).where(Evaluation.id == evaluation_id).values(
                    attention=aggregate_attention(session, evaluation_id)))
        if run_id % 100 == 0:
            print(f"  {run_id} runs, {run_id * n_images:,} predictions, "
                  f"{time.perf_counter() - start:.0f}s", flush=True)
    marker.write_text(f"{n_runs} {n_images}")
    return home


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", default="/tmp/cxr-bench-dashboard")
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--images", type=int, default=5840)
    args = parser.parse_args()
    start = time.perf_counter()
    fill(Path(args.home), args.runs, args.images)
    print(f"filled {args.home} in {time.perf_counter() - start:.0f}s")


if __name__ == "__main__":
    main()
