"""Training: one frozen config, small functions, a run row that tells the truth.

The images of a split are decoded once into a uint8 store (engine/data/pixels.py); each epoch
shuffles, augments whole batches as tensors and steps Adam under CyclicLR (the reference) or
one-cycle. Val AUC drives early stopping and the best checkpoint; the run ends by evaluating
val and test with Grad-CAM, so one command leaves a complete, explorable run.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from db import runs
from db.splits import split_images, subset_label_counts
from engine import settings
from engine.data.discover import dataset_for_root
from engine.data.pixels import load_store, normalize_intensity, readable
from engine.data.splits import get_or_create_split
from engine.errors import UserError, failure_reason
from engine.evaluation import health
from engine.evaluation.calibration import Calibration, choose_calibration
from engine.evaluation.thresholds import choose_threshold
from engine.evaluation.typicality import fit_run_typicality
from engine.inference.predictor import predict, predict_logits
from engine.models import create_model
from engine.provenance import code_version
from engine.training import loop as fitting
from engine.training.augmentation import center_crop, jpeg_variants, training_batch
from engine.training.config import TrainConfig
from engine.training.devices import configure, rank_device, resolve_device
from engine.training.distributed import SINGLE, Rank, launch


def train_one_epoch(model: nn.Module, store: torch.Tensor, labels: torch.Tensor,
                    optimizer: torch.optim.Optimizer, scheduler, loss_fn: nn.Module,
                    config: TrainConfig, generator: torch.Generator, device: torch.device,
                    epoch: int, ema: torch.optim.swa_utils.AveragedModel | None = None,
                    aug_generator: torch.Generator | None = None, rank: Rank = SINGLE,
                    jpeg_store: torch.Tensor | None = None) -> tuple[float, float]:
    """One pass over the training store. Returns (mean loss, images per second)."""
    model.train()
    layout = torch.channels_last if config.channels_last else torch.contiguous_format
    bf16 = config.precision == "bf16"
    order = torch.randperm(len(store), generator=generator).to(store.device)
    n_batches = len(order) // config.batch_size  # drop the ragged last batch (BatchNorm)
    # The loss is summed on the device: reading it every step would stall a GPU each batch.
    total_loss = torch.zeros((), dtype=torch.float64, device=device)
    seen, start = 0, time.perf_counter()
    bar = tqdm(range(n_batches), desc=f"epoch {epoch}", unit="batch", leave=False,
               disable=settings.CXR_NO_PROGRESS.get() or not rank.is_main)
    for step in bar:
        index = order[step * config.batch_size:(step + 1) * config.batch_size]
        index = index[rank.rank::rank.world]  # this rank's slice of the global batch
        inputs, targets = training_batch(store, labels, index, config,
                                         aug_generator or generator, jpeg_store)
        inputs, targets = inputs.to(device, memory_format=layout), targets.to(device)
        if config.label_smoothing:
            targets = targets * (1 - config.label_smoothing) + 0.5 * config.label_smoothing
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(inputs)[:, 0]
        loss = loss_fn(logits.float(), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if ema is not None:
            ema.update_parameters(model)
        total_loss += loss.detach().double() * len(index)
        seen += len(index)
        if not bar.disable and (step % 20 == 0 or step == n_batches - 1):
            rate = seen / (time.perf_counter() - start)
            bar.set_postfix(loss=f"{float(total_loss) / seen:.4f}", img_s=f"{rate:.1f}")
    mean_loss = float(total_loss) / max(seen, 1)  # waits for the device's queued steps
    return mean_loss, seen / (time.perf_counter() - start)


def load_subset(split_id: int, subset: str, size: int, intensity_norm: str = "none",
                 device: torch.device | None = None, keep_centre: float = 1.0,
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    images = split_images(split_id, subset)
    if not images:
        raise UserError(f"the {subset} split is empty; the dataset is too small to split")
    paths = [image.path for image in images]
    store, failures = load_store(paths, size)
    keep = readable(paths, failures, subset)
    labels = np.array([image.label for image in images], dtype=np.float32)
    store = center_crop(normalize_intensity(store[keep], intensity_norm), keep_centre)
    return torch.from_numpy(store).to(device), torch.from_numpy(labels[keep]).to(device)


def main(config: TrainConfig, resume_run_id: int | None = None, nproc: int = 1) -> int:
    """Train (or resume) a run, then evaluate it with Grad-CAM. Returns the run id."""
    config.validate()
    if resume_run_id is not None:
        run = runs.get_run(resume_run_id)
        if run.status == "completed":
            raise UserError(f"run {resume_run_id} is already completed; nothing to resume")
        advice = runs.rerun_advice(run.id, run.config)
        if advice is not None:
            raise UserError(f"run {resume_run_id}: {advice}")
        nproc = int(run.config.get("nproc", nproc))
        config = TrainConfig(**{key: value for key, value in run.config.items()
                                if key != "nproc"})
        run_id, split_id, dataset_id = run.id, run.split_id, run.dataset_id
    else:
        if not config.data:
            raise UserError("no dataset: pass --data DIR or set CXR_DATA")
        dataset_id = dataset_for_root(config.data)
        split_id = get_or_create_split(dataset_id, config.split_seed)
        health.require_both_classes(subset_label_counts(split_id, "train"), config.data)
    device = resolve_device(config.device)
    if resume_run_id is None:
        name = config.name or f"{config.arch}-{config.image_size}px-seed{config.seed}"
        config_record = {**dataclasses.asdict(config), "nproc": nproc}
        run_id = runs.create_run(name, config.arch, config_record, config.seed,
                                    f"{device} x{nproc}" if nproc > 1 else str(device),
                                    dataset_id, split_id, code_version=code_version())
    runs.mark_running(run_id)
    try:
        resume = resume_run_id is not None
        if nproc > 1:
            launch(_train_worker, nproc, (run_id, split_id, config, resume), device.type)
        else:
            _train_worker(SINGLE, run_id, split_id, config, resume)
        runs.finish_run(run_id, "completed")
    except BaseException as exc:
        runs.finish_run(run_id, "failed", failure_reason(exc))
        raise
    return run_id


def _train_worker(rank: Rank, run_id: int, split_id: int, config: TrainConfig,
                  resume: bool) -> None:
    """Train, calibrate and evaluate; on every rank of a distributed run, or alone."""
    device = rank_device(resolve_device(config.device), rank.distributed)
    configure(device, training=True)
    torch.manual_seed(config.seed)  # before the model exists: its initial weights are seeded
    model = create_model(config.arch, config.pretrained, config.weights).to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    _fit(run_id, split_id, config, model, device, resume, rank)
    from engine.evaluation.evaluate import evaluate_run

    for subset in ("val", "test"):
        if split_images(split_id, subset):
            evaluate_run(run_id, subset, batch_size=config.eval_batch_size,
                         fail_run_on_error=rank.is_main, rank=rank, device=device)


def _fit(run_id: int, split_id: int, config: TrainConfig, model: nn.Module,
         device: torch.device, resume: bool, rank: Rank = SINGLE) -> None:
    """Load the stores, build (or resume) the loop, train epoch by epoch keeping the best val
    checkpoint, then calibrate, choose the threshold and fit typicality on rank 0."""
    train_store, train_labels = load_subset(split_id, "train", config.image_size,
                                             config.intensity_norm, device)
    val_store, val_labels = load_subset(split_id, "val", config.image_size,
                                         config.intensity_norm, device, config.test_center_crop)
    jpeg_seed = config.seed + fitting.JPEG_SEED_STRIDE * (rank.rank + 1)
    jpeg_store = (jpeg_variants(train_store, jpeg_seed)
                  if config.augment and config.jpeg_share else None)
    loop = fitting.build_loop(run_id, config, model, device, train_labels, rank)
    if resume:
        fitting.resume_loop(loop, device, rank)
    train_start = time.perf_counter()
    val_np = val_labels.cpu().numpy()
    for epoch in range(loop.start_epoch, config.epochs + 1):
        started = time.perf_counter()
        learning_rate = loop.optimizer.param_groups[0]["lr"]
        steps_before = loop.scheduler.last_epoch
        train_loss, rate = train_one_epoch(
            loop.trained, train_store, train_labels, loop.optimizer, loop.scheduler, loop.loss_fn,
            config, loop.generator, device, epoch, loop.ema, loop.aug_generator, rank, jpeg_store)
        if not rank.is_main:  # rank 0 validates, records and checkpoints; the others follow
            if rank.broadcast(None):
                break
            continue
        result = fitting.EpochResult(epoch, train_loss, rate * rank.world, learning_rate,
                                     loop.scheduler.last_epoch - steps_before, started)
        probability = predict(loop.evaluated, val_store, device, config.eval_batch_size)
        score = fitting.validate_and_record(run_id, result, config.epochs, probability, val_np)
        fitting.keep_best(loop, run_id, epoch, score)
        fitting.save_last(loop, run_id, epoch)
        stop = loop.stale >= config.patience
        rank.broadcast(stop)
        if stop:
            tqdm.write(f"early stop: val AUC has not improved for {loop.stale} epochs")
            break
    if rank.is_main:
        runs.update_run(run_id, train_seconds=time.perf_counter() - train_start)
        positives = int(train_labels.sum())
        _calibrate(run_id, config, loop, val_store, val_np, device,
                   {0: len(train_labels) - positives, 1: positives})
        fit_run_typicality(run_id, config.arch, loop.evaluated, train_store, val_store, device)
    rank.gather(None)  # every rank waits for the threshold before evaluating


def _calibrate(run_id: int, config: TrainConfig, loop: fitting.Loop, val_store: torch.Tensor,
               val_labels: np.ndarray, device: torch.device,
               train_counts: dict[int, int]) -> None:
    """Calibrate the best checkpoint on val and choose the operating threshold by the rule."""
    model = loop.evaluated
    model.load_state_dict(torch.load(loop.best_path, map_location=device, weights_only=True))
    logits = predict_logits(model, val_store, device, config.eval_batch_size, tta=config.tta)
    # The class-weighted loss shifts every logit by log(pos_weight): undoing that prior shift
    # is one candidate; Platt scaling another; none at all the third. The lowest val ECE wins,
    # so calibration never makes val worse than the raw model.
    calibration = (choose_calibration(logits, val_labels, float(np.log(loop.pos_weight)))
                   if config.calibrate else Calibration())
    probability = calibration.apply(logits)
    health.review_training(run_id, logits, val_labels, train_counts)
    threshold, rule = choose_threshold(config.threshold_rule, val_labels, probability)
    runs.update_run(run_id, temperature=calibration.temperature,
                       logit_offset=calibration.offset, threshold=threshold, threshold_rule=rule)
    tqdm.write(f"calibration: logit offset {calibration.offset:.3f}, temperature "
               f"{calibration.temperature:.3f}; threshold {threshold:.3f} ({rule})")
