"""Training: one frozen config, small functions, a run row that tells the truth.

The images of a split are decoded once into a uint8 store (engine/pixels.py); each epoch
shuffles, augments whole batches as tensors and steps Adam under CyclicLR (the reference) or
one-cycle. Val AUC drives early stopping and the best checkpoint; the run ends by evaluating
val and test with Grad-CAM, so one command leaves a complete, explorable run.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from db import runs
from db.session import artifacts_root
from db.splits import split_images
from engine import health
from engine.calibration import fit_temperature
from engine.data import dataset_for_root
from engine.devices import configure, rank_device, resolve_device
from engine.distributed import SINGLE, Rank, launch
from engine.errors import UserError
from engine.metrics import sensitivity_threshold, youden_threshold
from engine.models import REGISTRY, create_model
from engine.pixels import (
    INTENSITY_MODES,
    augment,
    load_store,
    normalize_intensity,
    to_input,
)
from engine.predictor import predict, predict_logits
from engine.provenance import code_version
from engine.splits import get_or_create_split
from engine.typicality import fit_run_typicality

PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class TrainConfig:
    arch: str = "resnet18"
    data: str = ""
    epochs: int = 10
    image_size: int = 224
    batch_size: int = 32
    seed: int = 0
    # The patient split has its own seed, so runs with different training seeds share val/test.
    split_seed: int = 0
    schedule: str = "cyclic"  # cyclic (reference) | onecycle
    base_lr: float = 1e-5
    max_lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 5
    augment: bool = True
    pretrained: bool = False
    weights: str | None = None
    device: str = "auto"
    eval_batch_size: int = 64
    name: str | None = None
    # Operating point, chosen on val: "youden", or "sensitivity:0.95" (highest threshold that
    # keeps val sensitivity at least 0.95).
    threshold_rule: str = "youden"
    calibrate: bool = True  # temperature scaling fitted on val
    tta: bool = False  # test-time augmentation (shifts and zooms, no flip) at evaluation
    label_smoothing: float = 0.0
    ema_decay: float = 0.0  # exponential moving average of weights; 0 = off
    augment_strength: float = 1.0  # multiplies the intensity and geometry jitter
    intensity_norm: str = "none"  # none | equalize | clahe, per image, before the model
    recipe: str | None = None
    # Speed levers (bench/bench_train.py measures each; all off by default on the CPU, where
    # none of them paid here). Weights are saved in fp32 either way, and load into a model
    # of the default layout (load_state_dict copies).
    channels_last: bool = False  # NHWC activations and weights
    precision: str = "fp32"  # fp32 | bf16 (autocast for the forward pass; fp32 master weights)
    compile: bool = False  # torch.compile the training forward/backward

    def validate(self) -> None:
        if self.arch not in REGISTRY:
            raise UserError(f"unknown --arch {self.arch!r}; choose one of {', '.join(REGISTRY)}")
        if self.schedule not in ("cyclic", "onecycle"):
            raise UserError(f"unknown --schedule {self.schedule!r}; use cyclic or onecycle")
        for field, low in (("epochs", 1), ("image_size", 32), ("batch_size", 2)):
            if getattr(self, field) < low:
                raise UserError(f"--{field.replace('_', '-')} must be at least {low}")
        parse_threshold_rule(self.threshold_rule)
        if self.precision not in PRECISIONS:
            raise UserError(f"unknown --precision {self.precision!r}; use one of "
                            f"{', '.join(PRECISIONS)}")
        if self.intensity_norm not in INTENSITY_MODES:
            raise UserError(f"unknown --intensity-norm {self.intensity_norm!r}; use one of "
                            f"{', '.join(INTENSITY_MODES)}")


def parse_threshold_rule(rule: str) -> tuple[str, float | None]:
    """"youden" -> ("youden", None); "sensitivity:0.95" -> ("sensitivity", 0.95)."""
    if rule == "youden":
        return "youden", None
    name, _, value = rule.partition(":")
    try:
        target = float(value)
    except ValueError:
        target = -1.0
    if name != "sensitivity" or not 0 < target <= 1:
        raise UserError(f"unknown --threshold-rule {rule!r}; use youden or sensitivity:0.95")
    return name, target


def choose_threshold(rule: str, labels: np.ndarray, probability: np.ndarray) -> tuple[
        float, str]:
    name, target = parse_threshold_rule(rule)
    if name == "youden":
        return youden_threshold(labels, probability), "youden on val"
    return sensitivity_threshold(labels, probability, target), f"sensitivity >= {target} on val"


def make_scheduler(config: TrainConfig, optimizer: torch.optim.Optimizer,
                   steps_per_epoch: int) -> torch.optim.lr_scheduler.LRScheduler:
    if config.schedule == "cyclic":
        return torch.optim.lr_scheduler.CyclicLR(
            optimizer, base_lr=config.base_lr, max_lr=config.max_lr,
            step_size_up=2 * steps_per_epoch, mode="triangular", cycle_momentum=False)
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.max_lr, total_steps=config.epochs * steps_per_epoch)


def train_one_epoch(model: nn.Module, store: torch.Tensor, labels: torch.Tensor,
                    optimizer: torch.optim.Optimizer, scheduler, loss_fn: nn.Module,
                    config: TrainConfig, generator: torch.Generator, device: torch.device,
                    epoch: int, ema: torch.optim.swa_utils.AveragedModel | None = None,
                    aug_generator: torch.Generator | None = None, rank: Rank = SINGLE,
                    ) -> tuple[float, float]:
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
               disable=os.environ.get("CXR_NO_PROGRESS") == "1" or not rank.is_main)
    for step in bar:
        index = order[step * config.batch_size:(step + 1) * config.batch_size]
        index = index[rank.rank::rank.world]  # this rank's slice of the global batch
        inputs = to_input(store[index])
        if config.augment:
            k = config.augment_strength
            inputs = augment(inputs, aug_generator or generator, max_degrees=7.0 * k,
                             max_translate=0.06 * k, scale_range=(1 - 0.08 * k, 1 + 0.08 * k),
                             brightness=0.15 * k, contrast=0.15 * k)
        inputs = inputs.to(device, memory_format=layout)
        targets = labels[index].to(device)
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


def _bce(probability: np.ndarray, labels: np.ndarray) -> float:
    probability = np.clip(probability, 1e-7, 1 - 1e-7)
    return float(-np.mean(labels * np.log(probability) + (1 - labels) * np.log(1 - probability)))


def _load_subset(split_id: int, subset: str, size: int, intensity_norm: str = "none",
                 device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    images = split_images(split_id, subset)
    if not images:
        raise UserError(f"the {subset} split is empty; the dataset is too small to split")
    store, failures = load_store([image.path for image in images], size)
    keep = np.ones(len(images), dtype=bool)
    for index, reason in failures:
        keep[index] = False
        tqdm.write(f"skipped {images[index].path}: {reason}")
    labels = np.array([image.label for image in images], dtype=np.float32)
    store = normalize_intensity(store[keep], intensity_norm)
    return torch.from_numpy(store).to(device), torch.from_numpy(labels[keep]).to(device)


def _save_atomically(state: dict, path: Path) -> None:
    """A kill mid-write must never leave a truncated checkpoint behind: write, then rename."""
    temporary = path.with_suffix(".tmp")
    torch.save(state, temporary)
    os.replace(temporary, path)


def _checkpoint_dir(run_id: int) -> Path:
    path = artifacts_root() / "runs" / str(run_id)
    path.mkdir(parents=True, exist_ok=True)
    return path


def main(config: TrainConfig, resume_run_id: int | None = None, nproc: int = 1) -> int:
    """Train (or resume) a run, then evaluate it with Grad-CAM. Returns the run id."""
    config.validate()
    if resume_run_id is not None:
        run = runs.get_run(resume_run_id)
        if run.status == "completed":
            raise UserError(f"run {resume_run_id} is already completed; nothing to resume")
        nproc = int(run.config.get("nproc", nproc))
        config = TrainConfig(**{key: value for key, value in run.config.items()
                                if key != "nproc"})
        run_id, split_id, dataset_id = run.id, run.split_id, run.dataset_id
    else:
        if not config.data:
            raise UserError("no dataset: pass --data DIR or set CXR_DATA")
        dataset_id = dataset_for_root(config.data)
        split_id = get_or_create_split(dataset_id, config.split_seed)
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
        reason = "interrupted by the user" if isinstance(exc, KeyboardInterrupt) else (
            f"{type(exc).__name__}: {exc}")
        runs.finish_run(run_id, "failed", reason)
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
    from engine.evaluate import evaluate_run

    for subset in ("val", "test"):
        if split_images(split_id, subset):
            evaluate_run(run_id, subset, batch_size=config.eval_batch_size,
                         fail_run_on_error=rank.is_main, rank=rank, device=device)


def _fit(run_id: int, split_id: int, config: TrainConfig, model: nn.Module,
         device: torch.device, resume: bool, rank: Rank = SINGLE) -> None:
    # The batch order is shared by every rank (each takes its slice of each batch); the
    # augmentation randomness is each rank's own.
    generator = torch.Generator().manual_seed(config.seed)
    aug_generator = torch.Generator().manual_seed(config.seed + 7919 * (rank.rank + 1))
    train_store, train_labels = _load_subset(split_id, "train", config.image_size,
                                             config.intensity_norm, device)
    val_store, val_labels = _load_subset(split_id, "val", config.image_size,
                                         config.intensity_norm, device)
    positives = float(train_labels.sum())
    pos_weight = torch.tensor((len(train_labels) - positives) / max(positives, 1.0))
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight.to(device))  # class-weighted
    optimizer = torch.optim.Adam(model.parameters(), lr=config.base_lr,  # one kernel on CUDA
                                 weight_decay=config.weight_decay, fused=device.type == "cuda")
    steps_per_epoch = health.batches_per_epoch(len(train_store), config.batch_size)
    scheduler = make_scheduler(config, optimizer, steps_per_epoch)
    folder = _checkpoint_dir(run_id)
    best_path, last_path = folder / "best.pt", folder / "last.pt"
    start_epoch, best_auc, best_epoch, stale = 1, -1.0, 0, 0
    ema = None
    if config.ema_decay:
        ema = torch.optim.swa_utils.AveragedModel(
            model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(config.ema_decay),
            use_buffers=True)
    evaluated = ema.module if ema is not None else model  # what val sees and what is kept
    trained = DistributedDataParallel(model) if rank.distributed else model
    if config.compile:
        trained = torch.compile(trained)  # same parameters; state dicts come from `model`
    if resume and last_path.exists():
        state = torch.load(last_path, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        if ema is not None and "ema" in state:
            ema.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"].cpu())  # map_location put it on the GPU
        if rank.is_main and "aug_generator" in state:
            aug_generator.set_state(state["aug_generator"].cpu())
        start_epoch = int(state["epoch"]) + 1
        best_auc, best_epoch, stale = float(state["best_auc"]), int(state["best_epoch"]), int(
            state["stale"])
    train_start = time.perf_counter()
    val_np = val_labels.cpu().numpy()
    for epoch in range(start_epoch, config.epochs + 1):
        epoch_start = time.perf_counter()
        learning_rate, steps_before = optimizer.param_groups[0]["lr"], scheduler.last_epoch
        train_loss, rate = train_one_epoch(trained, train_store, train_labels, optimizer,
                                           scheduler, loss_fn, config, generator, device, epoch,
                                           ema, aug_generator, rank)
        if not rank.is_main:  # rank 0 validates, records and checkpoints; the others follow
            if rank.broadcast(None):
                break
            continue
        rate *= rank.world
        probability = predict(evaluated, val_store, device, config.eval_batch_size)
        val_auc = float(roc_auc_score(val_np, probability)) if len(set(val_np)) == 2 else None
        val_accuracy = float(np.mean((probability >= 0.5) == (val_np == 1)))
        runs.record_epoch(run_id, epoch=epoch, train_loss=train_loss,
                             val_loss=_bce(probability, val_np), val_accuracy=val_accuracy,
                             val_auc=val_auc, learning_rate=learning_rate,
                             seconds=time.perf_counter() - epoch_start, images_per_second=rate,
                             steps=scheduler.last_epoch - steps_before)
        tqdm.write(f"epoch {epoch}/{config.epochs}: loss {train_loss:.4f}  val acc "
                   f"{val_accuracy:.3f}  val AUC {val_auc if val_auc is None else f'{val_auc:.4f}'}"
                   f"  {rate:.1f} img/s")
        score = val_auc if val_auc is not None else val_accuracy
        if score > best_auc:
            best_auc, best_epoch, stale = score, epoch, 0
            _save_atomically(evaluated.state_dict(), best_path)
            runs.update_run(run_id, best_epoch=epoch,
                               checkpoint_path=best_path.relative_to(artifacts_root()).as_posix())
        else:
            stale += 1
        _save_atomically({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                          "scheduler": scheduler.state_dict(), "generator": generator.get_state(),
                          "epoch": epoch, "best_auc": best_auc, "best_epoch": best_epoch,
                          "stale": stale, "aug_generator": aug_generator.get_state(),
                          **({"ema": ema.state_dict()} if ema is not None else {})}, last_path)
        runs.update_run(run_id, last_checkpoint_path=last_path.relative_to(
            artifacts_root()).as_posix())
        stop = stale >= config.patience
        rank.broadcast(stop)
        if stop:
            tqdm.write(f"early stop: val AUC has not improved for {stale} epochs")
            break
    if rank.is_main:
        runs.update_run(run_id, train_seconds=time.perf_counter() - train_start)
        _calibrate(run_id, config, evaluated, best_path, val_store, val_np, device,
                   float(pos_weight))
        fit_run_typicality(run_id, config.arch, evaluated, train_store, val_store, device)
    rank.gather(None)  # every rank waits for the threshold before evaluating


def _calibrate(run_id: int, config: TrainConfig, model: nn.Module, best_path: Path,
               val_store: torch.Tensor, val_labels: np.ndarray, device: torch.device,
               pos_weight: float) -> None:
    """Fit the temperature on val and choose the operating threshold by the configured rule."""
    model.load_state_dict(torch.load(best_path, map_location=device, weights_only=True))
    logits = predict_logits(model, val_store, device, config.eval_batch_size, tta=config.tta)
    # The class-weighted loss shifts every logit by log(pos_weight); undo that prior shift first,
    # then fit the temperature on what is left.
    offset = float(np.log(pos_weight)) if config.calibrate else 0.0
    temperature = fit_temperature(logits - offset, val_labels) if config.calibrate else 1.0
    probability = 1.0 / (1.0 + np.exp(-(logits - offset) / temperature))
    health.review_training(run_id, probability, val_labels)
    threshold, rule = choose_threshold(config.threshold_rule, val_labels, probability)
    runs.update_run(run_id, temperature=temperature, logit_offset=offset, threshold=threshold,
                       threshold_rule=rule)
    tqdm.write(f"calibration: logit offset {offset:.3f}, temperature {temperature:.3f}; "
               f"threshold {threshold:.3f} ({rule})")
