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

from db import evaluations, gallery, images, runs
from db.gallery import PredictionView
from db.session import artifacts_root
from engine.data.pixels import load_gray, to_input
from engine.errors import UserError
from engine.inference.predictor import load_run_model, prepare_films, require_checkpoint

ROAD_PERCENTILES = (20, 40, 60, 80)


def _sample(evaluation_id: int, sample: int, seed: int) -> list[PredictionView]:
    rows = gallery.evaluation_predictions(evaluation_id)
    order = np.random.default_rng(seed).permutation(len(rows))[:sample]
    return [rows[i] for i in sorted(order)]


def road_scores(run_id: int, split: str = "val", sample: int = 100, seed: int = 0,
                batch_size: int = 16, device: torch.device | str | None = None,
                ) -> tuple[int, float]:
    """Score a sample of the newest `split` evaluation of a run; returns (n, mean ROAD).

    The model's forward passes run on `device` (None: $CXR_DEVICE, else auto); the imputation
    is pytorch-grad-cam's sparse solve on the CPU.
    """
    run = runs.get_run(run_id)
    require_checkpoint(run, "be scored with ROAD (there is no Grad-CAM to perturb)")
    evaluation_id = evaluations.evaluation_id_for(run_id, split)
    if evaluation_id is None:
        raise UserError(f"run {run_id} has no completed {split} evaluation to score with ROAD")
    rows = _sample(evaluation_id, sample, seed)
    files = images.image_files([row.image_id for row in rows])
    model = load_run_model(run, device)
    device = next(model.parameters()).device
    size = int(run.config["image_size"])
    metric = ROADCombined(percentiles=list(ROAD_PERCENTILES))
    scores: dict[int, float] = {}
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        grays = np.stack([load_gray(files[row.image_id].path, size) for row in chunk])
        cams = np.stack([np.load(artifacts_root() / row.cam_raw_path).astype(np.float32)
                         for row in chunk])
        targets = [BinaryClassifierOutputTarget(row.predicted_label) for row in chunk]
        with torch.no_grad():
            values = metric(to_input(prepare_films(run.config, grays)).to(device), cams, targets,
                            model)
        for row, value in zip(chunk, np.asarray(values).reshape(-1), strict=True):
            scores[row.prediction_id] = float(value)
    evaluations.store_road_scores(evaluation_id, scores)
    return len(scores), float(np.mean(list(scores.values()))) if scores else float("nan")
