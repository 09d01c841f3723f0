"""Evaluation: one prediction row per image, with its Grad-CAM, written in one transaction."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from db import evaluations, runs
from db import shift as shift_store
from db.models import FIXED_THRESHOLD_RULE
from db.session import artifacts_root
from db.splits import (
    SplitImage,
    dataset_images,
    seen_in_sample,
    seen_in_training,
    split_images,
)
from engine.data.decode import DecodeError
from engine.data.discover import dataset_for_root
from engine.data.pixels import load_gray, load_store, readable
from engine.errors import UserError
from engine.evaluation.calibration import Calibration
from engine.evaluation.drift import drift
from engine.evaluation.feature_map import keep_feature_map
from engine.evaluation.metrics import binary_metrics, expected_calibration_error, roc_points
from engine.evaluation.perturbations import SHIFTS, apply_shift
from engine.evaluation.typicality import outside
from engine.explain.attention import attention_metrics
from engine.explain.gradcam import CamWriter
from engine.inference.predictor import predictor_for, require_checkpoint
from engine.training.devices import rank_device, resolve_device
from engine.training.distributed import SINGLE, Rank


def _lesion_mask(image: SplitImage, size: int) -> np.ndarray | None:
    """The true lesion mask of a synthetic image, at model resolution (None elsewhere)."""
    if not image.lesion_mask_path:
        return None
    try:
        return load_gray(image.lesion_mask_path, size) > 127
    except DecodeError:
        return None


def images_for(run: runs.RunInfo, split: str, data_dir: str | None,
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


def evaluate_derived_run(run_id: int, split_id: int, prepare: Callable[[], None],
                         batch_size: int, device: torch.device,
                         external_data: str | None = None) -> None:
    """A run made from other runs (an ensemble, an adapted run): `prepare` fits what it needs
    (calibration, threshold), then it is evaluated on its split's val and test (and an external
    folder) and completed; any failure marks it failed, never completed."""
    runs.mark_running(run_id)
    try:
        prepare()
        for subset in ("val", "test"):
            if split_images(split_id, subset):
                evaluate_run(run_id, subset, batch_size=batch_size, device=device,
                             fail_run_on_error=True)
        if external_data is not None:
            evaluate_run(run_id, data_dir=external_data, batch_size=batch_size, device=device,
                         fail_run_on_error=True)
        runs.finish_run(run_id, "completed")
    except BaseException as exc:
        runs.finish_run(run_id, "failed", f"{type(exc).__name__}: {exc}")
        raise


def evaluate_run(run_id: int, split: str = "val", data_dir: str | None = None,
                 batch_size: int = 64, fail_run_on_error: bool = False,
                 dataset_id: int | None = None, shift: str | None = None,
                 rank: Rank = SINGLE, device: torch.device | str | None = None) -> int:
    """Predict and explain every image of `split` (or of `data_dir`). Returns the evaluation id.

    The model and its Grad-CAM run on `device` (None: $CXR_DEVICE, else auto: the GPU if any).

    With `shift`, val is evaluated under that acquisition shift (engine/evaluation/perturbations.py)
    and stored as split "val-shift". Overlay files are written first; then every prediction and
    metric goes into the database in one transaction, so a crash leaves no partial rows and the
    evaluation marked `failed`. Under torch.distributed each rank explains its shard of the
    images and writes its own rows; rank 0 then computes the metrics over all of them, or, if any
    rank failed, deletes every row of the evaluation and marks it failed.
    """
    run = runs.get_run(run_id)
    device = rank_device(resolve_device(device), rank.distributed)  # fail before any row
    images, dataset_id, split_name = _images_to_evaluate(run, split, data_dir, dataset_id,
                                                         shift)
    evaluation_id = rank.broadcast(
        evaluations.start_evaluation(run_id, split_name, dataset_id, shift)
        if rank.is_main else None)
    start = time.perf_counter()
    error: str | None = None
    try:
        rows, attention_seconds, features = explain_images(
            run, rank.shard(images), evaluation_id, shift, batch_size, device)
        if rank.distributed:
            evaluations.insert_predictions(evaluation_id, rows)
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}"
        if not rank.distributed:
            _fail(run_id, evaluation_id, split_name, error, fail_run_on_error)
            raise
    errors = [e for e in rank.gather(error) if e]
    if errors:
        if rank.is_main:
            evaluations.delete_predictions(evaluation_id)
            _fail(run_id, evaluation_id, split_name, errors[0], fail_run_on_error)
        raise RuntimeError(f"evaluation {evaluation_id} failed on a rank: {errors[0]}")
    if not rank.is_main:
        return evaluation_id
    try:
        _complete(run, evaluation_id, split_name, None if rank.distributed else rows,
                  time.perf_counter() - start, attention_seconds)
    except BaseException as exc:
        if rank.distributed:
            evaluations.delete_predictions(evaluation_id)
        _fail(run_id, evaluation_id, split_name, f"{type(exc).__name__}: {exc}",
              fail_run_on_error)
        raise
    if not rank.distributed:  # one process holds every image's features
        keep_feature_map(run, evaluation_id, rows, features, batch_size, device)
    return evaluation_id


def _images_to_evaluate(run: runs.RunInfo, split: str, data_dir: str | None,
                        dataset_id: int | None, shift: str | None) -> tuple[
                            list[SplitImage], int | None, str]:
    """(images, their dataset, the split name stored), or a UserError naming what is wrong."""
    if run.status not in ("completed", "running"):
        raise UserError(f"run {run.id} is {run.status}; only completed runs can be evaluated")
    require_checkpoint(run, "be evaluated again (import its predictions for these images)")
    if shift is not None and shift not in SHIFTS:
        raise UserError(f"unknown shift {shift!r}; choose one of {', '.join(SHIFTS)} or all")
    images, dataset_id, split_name = images_for(run, "val" if shift else split, data_dir,
                                                dataset_id)
    if shift:
        split_name = "val-shift"
    if not images:
        raise UserError(f"no usable images to evaluate for run {run.id} ({split_name})")
    if split_name == "external" and dataset_id is not None:
        _warn_overlap(run, dataset_id, len(images))
    return images, dataset_id, split_name


def _warn_overlap(run: runs.RunInfo, dataset_id: int, n_images: int) -> None:
    """Warn when an external set holds images the run trained or was calibrated on: its
    split's train/val, and for a site-calibrated run, its site-calibration sample."""
    from db.site_calibration import site_calibration

    seen = seen_in_training(run.split_id, dataset_id) if run.split_id is not None else 0
    if seen:
        print(f"warning: {seen} of {n_images} images of this external set are identical "
              f"to images run {run.id} trained or was calibrated on (its train/val split): "
              "its figures here overstate how it does on unseen data", flush=True)
    calibrated = site_calibration(run.id)
    if calibrated is not None and calibrated.sample_dataset_id is not None:
        in_sample = seen_in_sample(calibrated.sample_dataset_id, dataset_id)
        if in_sample:
            print(f"warning: {in_sample} of {n_images} images of this external set are "
                  f"identical to images of the site sample run {run.id} was calibrated on: "
                  "its figures here are in-sample, not how it does on the rest of the site",
                  flush=True)


def _complete(run: runs.RunInfo, evaluation_id: int, split_name: str,
              rows: list[evaluations.PredictionRow] | None, seconds: float,
              attention_seconds: float) -> None:
    """Metrics over every prediction (`rows`, or those the ranks stored when None), stored in
    one transaction with the rows; then the drift of a non-val split against val."""
    if rows is not None:
        probabilities = np.array([row.probability for row in rows])
        labels = np.array([row.true_label for row in rows])
    else:
        stored = evaluations.evaluation_rows(evaluation_id)
        probabilities, labels = stored.probability, stored.true_label
    # Metrics at 0.5 and at the run's operating point, each under the rule that set it.
    metrics = {FIXED_THRESHOLD_RULE: binary_metrics(labels, probabilities, 0.5)}
    if run.threshold_rule != FIXED_THRESHOLD_RULE:
        metrics[run.threshold_rule] = binary_metrics(labels, probabilities, run.threshold)
    evaluations.complete_evaluation(
        evaluation_id, rows or [], metrics, roc_points(labels, probabilities), seconds,
        attention_seconds, ece_uncalibrated=expected_calibration_error(
            labels, Calibration(run.logit_offset, run.temperature).uncalibrate(probabilities)))
    if split_name != "val":  # how far these scores sit from val's (the shift view)
        shift_store.store_drift(evaluation_id, *drift(
            shift_store.val_probabilities(run.id), probabilities))


def _fail(run_id: int, evaluation_id: int, split_name: str, reason: str,
          fail_run: bool) -> None:
    evaluations.fail_evaluation(evaluation_id, reason)
    if fail_run:
        runs.finish_run(run_id, "failed", f"evaluation of {split_name} failed: {reason}")


def explain_images(run: runs.RunInfo, images: list[SplitImage], evaluation_id: int,
                   shift: str | None, batch_size: int, device: torch.device) -> tuple[
                       list[evaluations.PredictionRow], float, np.ndarray | None]:
    """Probabilities, Grad-CAM files and attention metrics for these images (one rank's share),
    and their penultimate features, read in the same pass."""
    predictor = predictor_for(run, device)
    size = predictor.size
    paths = [image.path for image in images]
    store, failures = load_store(paths, size)
    kept = ([int(i) for i in np.flatnonzero(readable(paths, failures, "evaluated"))]
            if images else [])
    cam_dir = artifacts_root() / "runs" / str(run.id) / f"eval-{evaluation_id}"
    rows: list[evaluations.PredictionRow] = []
    features: list[np.ndarray] = []
    attention_seconds = 0.0
    writer = CamWriter()
    try:
        for offset in range(0, len(kept), batch_size):
            chunk = kept[offset:offset + batch_size]
            batch = store[chunk]
            if shift:
                batch = apply_shift(shift, batch, seeds=[images[i].image_id for i in chunk])
            probabilities, cams, typicality = predictor.explain_full(batch)
            features.append(predictor.last_features.astype(np.float16))
            if typicality is None:
                typicality = [None] * len(chunk)
            for index, gray, cam in zip(chunk, batch, cams, strict=True):
                writer.submit(gray, cam, cam_dir / f"{images[index].image_id}.png")
            tick = time.perf_counter()
            for index, gray, cam, probability, distance in zip(
                    chunk, batch, cams, probabilities, typicality, strict=True):
                looked = attention_metrics(gray, cam, _lesion_mask(images[index], size))
                png = cam_dir / f"{images[index].image_id}.png"
                rows.append(evaluations.PredictionRow(
                    image_id=images[index].image_id, probability=float(probability),
                    predicted_label=int(probability >= run.threshold),
                    true_label=images[index].label,
                    cam_path=png.relative_to(artifacts_root()).as_posix(),
                    cam_raw_path=png.with_suffix(".npy").relative_to(
                        artifacts_root()).as_posix(),
                    border_share=looked.border_share, lung_share=looked.lung_share,
                    peak_in_lung=looked.peak_in_lung, lesion_share=looked.lesion_share,
                    lesion_hit=looked.lesion_hit, lung_outline=looked.lung_outline,
                    typicality=None if distance is None else float(distance),
                    outside_population=outside(distance)))
            attention_seconds += time.perf_counter() - tick
    finally:
        writer.wait()
        predictor.close()
    return rows, attention_seconds, np.concatenate(features) if features else None


def _evaluate_worker(rank: Rank, run_id: int, split: str, data_dir: str | None,
                     dataset_id: int | None, shift: str | None, batch_size: int,
                     result_file: str, device: torch.device) -> None:
    evaluation_id = evaluate_run(run_id, split, data_dir, batch_size, dataset_id=dataset_id,
                                 shift=shift, rank=rank, device=device)
    if rank.is_main:
        Path(result_file).write_text(str(evaluation_id))


def evaluate_distributed(run_id: int, split: str = "val", nproc: int = 2,
                         data_dir: str | None = None, dataset_id: int | None = None,
                         shift: str | None = None, batch_size: int = 64,
                         device: torch.device | str | None = None) -> int:
    """`evaluate_run` sharded over `nproc` local processes (gloo on CPU, NCCL on GPU)."""
    import tempfile

    from engine.training.distributed import launch

    device = resolve_device(device)  # each rank then takes its own GPU

    if data_dir and dataset_id is None:
        dataset_id = dataset_for_root(data_dir)  # register once, before the ranks start
    with tempfile.TemporaryDirectory() as folder:
        result = Path(folder) / "evaluation_id"
        launch(_evaluate_worker, nproc, (run_id, split, None, dataset_id, shift, batch_size,
                                         str(result), device), device.type)
        return int(result.read_text())


def store_scored(run: runs.RunInfo, evaluation_id: int, split_name: str,
                 rows: list[evaluations.PredictionRow], seconds: float) -> None:
    """Complete an evaluation whose rows were scored elsewhere (engine/evaluation/imported.py):
    the same metrics, ROC and drift as ours."""
    _complete(run, evaluation_id, split_name, rows, seconds, attention_seconds=None)
