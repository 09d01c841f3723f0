"""Evaluation: one prediction row per image, with its Grad-CAM, written in one transaction."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from db.session import artifacts_root
from engine import records
from engine.cam_metrics import CamMetrics, cam_metrics
from engine.data import dataset_for_root
from engine.decode import DecodeError
from engine.errors import UserError
from engine.explain import CamWriter
from engine.metrics import binary_metrics, expected_calibration_error, roc_points
from engine.pixels import load_gray, load_store
from engine.predictor import load_run_model, predictor_for  # noqa: F401 (re-export)
from engine.shifts import SHIFTS, apply_shift
from engine.splits import SplitImage, dataset_images, split_images


class CheckpointError(UserError):
    """A checkpoint that is missing, unsafe, or made for another model."""


def load_checkpoint(model: nn.Module, path: Path) -> nn.Module:
    """Load a state dict safely (`weights_only=True`): pickled code is refused, not run."""
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - unpickling errors come in many types
        raise CheckpointError(
            f"checkpoint {path} was refused: it is not a plain state dict "
            f"({str(exc).splitlines()[0][:200]})") from exc
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} does not hold a state dict")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()
        raise CheckpointError(
            f"checkpoint {path} does not fit this architecture: "
            f"{' '.join(line.strip() for line in first[:3])[:300]}") from exc
    return model


def _lesion_mask(image: SplitImage, size: int) -> np.ndarray | None:
    """The true lesion mask of a synthetic image, at model resolution (None elsewhere)."""
    if not image.lesion_mask_path:
        return None
    try:
        return load_gray(image.lesion_mask_path, size) > 127
    except DecodeError:
        return None


def images_for(run: records.RunInfo, split: str, data_dir: str | None,
               dataset_id: int | None = None) -> tuple[list[SplitImage], int | None, str]:
    if dataset_id is not None:  # an already registered external set (e.g. labelled uploads)
        return dataset_images(dataset_id), dataset_id, "external"
    if data_dir:
        dataset_id = dataset_for_root(data_dir)
        return dataset_images(dataset_id), dataset_id, "external"
    if split not in ("val", "test"):
        raise UserError(f"unknown split {split!r}; use val or test, or --data DIR")
    images = split_images(run.split_id, split)
    return images, run.dataset_id, split


def evaluate_run(run_id: int, split: str = "val", data_dir: str | None = None,
                 batch_size: int = 64, fail_run_on_error: bool = False,
                 dataset_id: int | None = None, shift: str | None = None) -> int:
    """Predict and explain every image of `split` (or of `data_dir`). Returns the evaluation id.

    With `shift`, val is evaluated under that acquisition shift (engine/shifts.py) and stored
    as split "val-shift". Overlay files are written first; then every prediction and metric goes
    into the database in one transaction, so a crash leaves no partial rows and the evaluation
    marked `failed`.
    """
    run = records.get_run(run_id)
    if run.status not in ("completed", "running"):
        raise UserError(f"run {run_id} is {run.status}; only completed runs can be evaluated")
    if shift is not None and shift not in SHIFTS:
        raise UserError(f"unknown shift {shift!r}; choose one of {', '.join(SHIFTS)} or all")
    images, dataset_id, split_name = images_for(run, "val" if shift else split, data_dir,
                                                dataset_id)
    if shift:
        split_name = "val-shift"
    if not images:
        raise UserError(f"no usable images to evaluate for run {run_id} ({split_name})")
    evaluation_id = records.start_evaluation(run_id, split_name, dataset_id, shift)
    try:
        start = time.perf_counter()
        predictor = predictor_for(run)
        size = predictor.size
        store, failures = load_store([image.path for image in images], size)
        failed = {index for index, _ in failures}
        kept = [i for i in range(len(images)) if i not in failed]
        cam_dir = artifacts_root() / "runs" / str(run_id) / f"eval-{evaluation_id}"
        probabilities, rows = np.zeros(len(kept)), []
        attention: dict[int, CamMetrics] = {}
        metrics_seconds = 0.0
        writer = CamWriter()
        try:
            for offset in range(0, len(kept), batch_size):
                chunk = kept[offset:offset + batch_size]
                batch = store[chunk]
                if shift:
                    batch = apply_shift(shift, batch, seed=offset)
                probability, cams = predictor.explain(batch)
                probabilities[offset:offset + len(chunk)] = probability
                for index, gray, cam in zip(chunk, batch, cams, strict=True):
                    writer.submit(gray, cam, cam_dir / f"{images[index].image_id}.png")
                tick = time.perf_counter()
                for index, gray, cam in zip(chunk, batch, cams, strict=True):
                    attention[index] = cam_metrics(gray, cam, _lesion_mask(images[index], size))
                metrics_seconds += time.perf_counter() - tick
        finally:
            writer.wait()
            predictor.close()
        labels = np.array([images[i].label for i in kept])
        for index, probability in zip(kept, probabilities, strict=True):
            png = cam_dir / f"{images[index].image_id}.png"
            looked = attention[index]
            rows.append(records.PredictionRow(
                image_id=images[index].image_id, probability=float(probability),
                predicted_label=int(probability >= run.threshold),
                true_label=images[index].label,
                cam_path=png.relative_to(artifacts_root()).as_posix(),
                cam_raw_path=png.with_suffix(".npy").relative_to(artifacts_root()).as_posix(),
                border_share=looked.border_share, lung_share=looked.lung_share,
                peak_in_lung=looked.peak_in_lung, lesion_share=looked.lesion_share,
                lesion_hit=looked.lesion_hit))
        # "youden" holds the run's operating threshold (its rule is runs.threshold_rule).
        metrics = {"0.5": binary_metrics(labels, probabilities, 0.5)}
        if run.threshold != 0.5 or run.threshold_rule != "fixed 0.5":
            metrics["youden"] = binary_metrics(labels, probabilities, run.threshold)
        records.complete_evaluation(
            evaluation_id, rows, metrics, roc_points(labels, probabilities),
            time.perf_counter() - start, metrics_seconds,
            ece_uncalibrated=expected_calibration_error(
                labels, uncalibrate(probabilities, run.temperature)))
    except BaseException as exc:
        reason = f"{type(exc).__name__}: {exc}"
        records.fail_evaluation(evaluation_id, reason)
        if fail_run_on_error:
            records.finish_run(run_id, "failed", f"evaluation of {split_name} failed: {reason}")
        raise
    return evaluation_id


def uncalibrate(probability: np.ndarray, temperature: float) -> np.ndarray:
    """The probabilities before temperature scaling: sigmoid(T * logit(p))."""
    if temperature == 1.0:
        return probability
    clipped = np.clip(probability, 1e-7, 1 - 1e-7)
    return 1.0 / (1.0 + np.exp(-temperature * np.log(clipped / (1 - clipped))))
