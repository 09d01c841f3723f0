"""Faithfulness of the CAMs: pytorch-grad-cam's ROAD combined score on a sample of predictions.

ROAD (Rong et al., 2022) removes the most- and least-relevant pixels by noisy linear imputation
and watches the model's confidence; the combined score is (LeRF - MoRF) / 2, higher is more
faithful. It costs many forward passes and a sparse solve per image, so it is a sampled,
optional pass (`cxr road RUN --sample 100`) and not part of every evaluation.
"""

from __future__ import annotations

import numpy as np
import torch
from pytorch_grad_cam.metrics.road import ROADCombined
from pytorch_grad_cam.utils.model_targets import BinaryClassifierOutputTarget
from sqlalchemy import select, update

from db.attention import aggregate_attention
from db.models import Dataset, Evaluation, Image, Prediction
from db.session import artifacts_root, session_scope
from engine import records
from engine.errors import UserError
from engine.pixels import load_gray, to_input
from engine.predictor import load_run_model

ROAD_PERCENTILES = (20, 40, 60, 80)


def _sample(evaluation_id: int, sample: int, seed: int) -> list:
    with session_scope() as session:
        rows = session.execute(
            select(Prediction.id, Prediction.predicted_label, Prediction.cam_raw_path,
                   Image.rel_path, Dataset.root)
            .join(Image, Image.id == Prediction.image_id)
            .join(Dataset, Dataset.id == Image.dataset_id)
            .where(Prediction.evaluation_id == evaluation_id)
            .order_by(Prediction.id)).all()
    order = np.random.default_rng(seed).permutation(len(rows))[:sample]
    return [rows[i] for i in sorted(order)]


def road_scores(run_id: int, split: str = "val", sample: int = 100, seed: int = 0,
                batch_size: int = 16, device: torch.device | str | None = None,
                ) -> tuple[int, float]:
    """Score a sample of the newest `split` evaluation of a run; returns (n, mean ROAD).

    The model's forward passes run on `device` (None: $CXR_DEVICE, else auto); the imputation
    is pytorch-grad-cam's sparse solve on the CPU.
    """
    run = records.get_run(run_id)
    with session_scope() as session:
        evaluation_id = session.scalar(
            select(Evaluation.id).where(Evaluation.run_id == run_id, Evaluation.split == split,
                                        Evaluation.status == "completed")
            .order_by(Evaluation.id.desc()).limit(1))
    if evaluation_id is None:
        raise UserError(f"run {run_id} has no completed {split} evaluation to score with ROAD")
    rows = _sample(evaluation_id, sample, seed)
    model = load_run_model(run, device)
    device = next(model.parameters()).device
    size = int(run.config["image_size"])
    metric = ROADCombined(percentiles=list(ROAD_PERCENTILES))
    scores: dict[int, float] = {}
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        grays = np.stack([load_gray(f"{row.root}/{row.rel_path}", size) for row in chunk])
        cams = np.stack([np.load(artifacts_root() / row.cam_raw_path).astype(np.float32)
                         for row in chunk])
        targets = [BinaryClassifierOutputTarget(row.predicted_label) for row in chunk]
        with torch.no_grad():
            values = metric(to_input(grays).to(device), cams, targets, model)
        for row, value in zip(chunk, np.asarray(values).reshape(-1), strict=True):
            scores[row.id] = float(value)
    with session_scope(write=True) as session:
        for prediction_id, value in scores.items():
            session.execute(update(Prediction).where(Prediction.id == prediction_id)
                            .values(road_score=value))
        session.flush()
        session.get(Evaluation, evaluation_id).attention = aggregate_attention(
            session, evaluation_id)
    return len(scores), float(np.mean(list(scores.values()))) if scores else float("nan")
