"""Grow a results database to N runs x 5,840 predictions for the dashboard benches.

    python bench/fill_dashboard_db.py --home /tmp/cxr-bench [--runs 1000] [--images 5840]
    python bench/fill_dashboard_db.py --postgres [--runs 1000]     # bench/postgres.py's server

The schema comes from the migrations (init_db). Filling is incremental and deterministic: run k
always gets the same values (its generator is seeded by (seed, k)), so a store grown to 100 runs
and later to 1,000 holds the same data as a fill straight to 1,000 (row ids may differ after an
interrupted fill), and a bench can measure at each size on the way up. A store never shrinks:
asking for fewer runs than it holds is refused. Each run gets a val evaluation (20% of the
images) and a test evaluation (80%), their metric rows and CAM pre-aggregates, and per-
prediction attention metrics, so it holds exactly `--images` predictions; probabilities are drawn so
each run has a plausible AUC. The dataset is flagged synthetic: these are generated rows, not a
real model's output.

The values are drawn here; db/bulk.py writes them, prediction rows through the driver's bulk
path (sqlite3 executemany, PostgreSQL COPY).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from engine import settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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


def _generated_run(run_id: int, seed: int, labels: np.ndarray, subsets: np.ndarray,
                   split_id: int, dataset_id: int) -> tuple[dict, list[dict], list]:
    """Run k's rows, drawn from its own generator (seeded by (seed, k))."""
    from db.bulk import GeneratedEvaluation
    from engine.evaluation.metrics import binary_metrics, roc_points, youden_threshold

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
    run = {"id": run_id, "name": f"bench-{run_id}",
           "arch": ("resnet18", "resnet34", "efficientnet_b0")[run_id % 3], "status": "completed",
           "config": {"image_size": 224, "batch_size": 32, "schedule": "cyclic", "epochs": 10},
           "seed": run_id, "device": "cpu", "code_version": "bench", "dataset_id": dataset_id,
           "split_id": split_id, "started_at": started,
           "finished_at": started + timedelta(minutes=30), "best_epoch": 8,
           "threshold": threshold, "threshold_rule": "youden"}
    epochs = [{"epoch": epoch, "train_loss": 0.7 / epoch, "val_loss": 0.75 / epoch,
               "val_accuracy": 0.7 + 0.02 * epoch, "val_auc": 0.75 + 0.02 * epoch,
               "learning_rate": 1e-3, "seconds": 180.0, "images_per_second": 60.0}
              for epoch in range(1, 11)]
    evaluations = []
    for split, mask in (("val", val), ("test", ~val)):
        image_ids = np.flatnonzero(mask) + 1
        p, y = probability[mask], labels[mask]
        predicted = p >= threshold
        evaluations.append(GeneratedEvaluation(
            split, roc_points(y, p),
            {rule: binary_metrics(y, p, t).as_dict()
             for rule, t in (("fixed:0.5", 0.5), ("youden", threshold))},
            list(zip(image_ids.tolist(), p.tolist(), predicted.astype(int).tolist(),
                     y.tolist(), (predicted == y).tolist(),
                     [f"runs/{run_id}/eval-{{evaluation_id}}/{i}.png" for i in image_ids],
                     border_share[mask].tolist(), lung_share[mask].tolist(),
                     peak_in_lung[mask].tolist(), strict=True))))
    return run, epochs, evaluations


def fill(n_runs: int, n_images: int = 5840, seed: int = 0, quiet: bool = False) -> int:
    """Grow the current store (see use_store) to `n_runs` runs; return its prediction rows."""
    from db import bulk
    from db.errors import UserError
    from db.migrate import init_db

    init_db()
    labels, subsets = _labels(seed, n_images)
    try:
        store = bulk.open_generated_store(labels.tolist(), subsets.tolist())
        dataset_id, split_id, have = store.dataset_id, store.split_id, store.runs_held
    except UserError as exc:
        raise SystemExit(f"{settings.CXR_DATABASE_URL.get() or 'this home'}: {exc}") from None
    if have > n_runs:
        raise SystemExit(f"the bench store holds {have} runs, more than the {n_runs} asked for; "
                         "remove it (bench_scaling.py starts from empty) to measure fewer")
    start = time.perf_counter()
    for run_id in range(have + 1, n_runs + 1):
        run, epochs, evaluations = _generated_run(run_id, seed, labels, subsets, split_id,
                                                  dataset_id)
        bulk.add_generated_run(run, epochs, dataset_id, evaluations)
        if not quiet and run_id % 100 == 0:
            print(f"  {run_id} runs, {run_id * n_images:,} predictions, "
                  f"{time.perf_counter() - start:.0f}s", flush=True)
    if n_runs > have:
        bulk.after_bulk_load()
    return bulk.count_predictions()


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
