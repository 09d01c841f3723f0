"""An engine process writing large evaluations, for the dashboard load test.

`python -m tests.reliability.bulk_writer RUN_ID N_IMAGES STOP_FILE` registers an external
dataset of N_IMAGES images, then writes evaluations of it for RUN_ID through the engine's own
write path (`engine.evaluations.start_evaluation` / `complete_evaluation`: every prediction and
metric in one write transaction, as `cxr evaluate` does) until STOP_FILE exists. Each finished
transaction is printed as one JSON line: {"evaluation_id", "begin", "end"} in epoch seconds.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from sqlalchemy import insert, select

from db import evaluations
from db.models import Dataset, Image
from db.session import session_scope
from engine.evaluation.metrics import binary_metrics, roc_points

MAX_SECONDS = 300  # never outlive a test that forgot to stop us


def register_dataset(root: Path, n_images: int) -> tuple[int, list[int], np.ndarray]:
    labels = np.arange(n_images) % 2
    with session_scope(write=True) as session:
        dataset_id = session.execute(insert(Dataset).returning(Dataset.id), [{
            "name": "bulk-external", "root": str(root)}]).scalar_one()
        session.execute(insert(Image), [{
            "dataset_id": dataset_id, "rel_path": f"{'NORMAL PNEUMONIA'.split()[label]}/{i}.png",
            "sha256": f"{i:064x}", "label": int(label), "source_folder": "",
            "patient_id": f"bulk-{i}"} for i, label in enumerate(labels)])
    with session_scope() as session:
        image_ids = list(session.scalars(select(Image.id).where(Image.dataset_id == dataset_id)
                                         .order_by(Image.id)))
    return dataset_id, image_ids, labels


def write_evaluation(run_id: int, dataset_id: int, image_ids: list[int], labels: np.ndarray,
                     seed: int) -> dict:
    probability = np.clip(np.random.default_rng(seed).normal(0.3 + 0.4 * labels, 0.2), 0, 1)
    rows = [evaluations.PredictionRow(
        image_id=image_id, probability=float(p), predicted_label=int(p >= 0.5),
        true_label=int(label), cam_path=f"runs/{run_id}/bulk/{image_id}.png",
        cam_raw_path=f"runs/{run_id}/bulk/{image_id}.npy", border_share=0.1, lung_share=0.8,
        peak_in_lung=True) for image_id, p, label in zip(image_ids, probability, labels,
                                                           strict=True)]
    metrics = {"fixed:0.5": binary_metrics(labels, probability, 0.5)}
    roc = roc_points(labels, probability)
    evaluation_id = evaluations.start_evaluation(run_id, "external", dataset_id)
    begin = time.time()
    evaluations.complete_evaluation(evaluation_id, rows, metrics, roc, seconds=0.0)
    return {"evaluation_id": evaluation_id, "begin": begin, "end": time.time()}


def main(argv: list[str]) -> int:
    run_id, n_images, stop_file = int(argv[0]), int(argv[1]), Path(argv[2])
    dataset_id, image_ids, labels = register_dataset(stop_file.parent / "bulk-dataset",
                                                     n_images)
    print(json.dumps({"dataset_id": dataset_id}), flush=True)
    deadline = time.monotonic() + MAX_SECONDS
    seed = 0
    while not stop_file.exists() and time.monotonic() < deadline:
        print(json.dumps(write_evaluation(run_id, dataset_id, image_ids, labels, seed)),
              flush=True)
        seed += 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
