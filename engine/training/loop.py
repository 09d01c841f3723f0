"""The moving parts of one training run, as steps `engine/training/train.py` reads like a recipe.

`build_loop` makes the loss, optimiser, schedule, EMA and wrappers; `resume_loop` restores them
from last.pt; `validate_and_record` scores val and writes the epoch row; `keep_best` and
`save_last` write the checkpoints. The training step itself stays in train.py.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from db import runs
from db.files import atomic_write
from db.session import artifacts_root
from engine.evaluation import health
from engine.training.config import TrainConfig
from engine.training.distributed import Rank

# Each rank's other random streams start at seed + stride * (rank + 1): large primes keep them
# apart from the training seeds of nearby runs (0, 1, 2, ...) and from each other.
AUGMENT_SEED_STRIDE = 7919
JPEG_SEED_STRIDE = 104729


def make_scheduler(config: TrainConfig, optimizer: torch.optim.Optimizer,
                   steps_per_epoch: int) -> torch.optim.lr_scheduler.LRScheduler:
    if config.schedule == "cyclic":
        return torch.optim.lr_scheduler.CyclicLR(
            optimizer, base_lr=config.base_lr, max_lr=config.max_lr,
            step_size_up=2 * steps_per_epoch, mode="triangular", cycle_momentum=False)
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.max_lr, total_steps=config.epochs * steps_per_epoch)


@dataclass
class Loop:
    """Everything an epoch touches, and where the run stands (what last.pt saves)."""

    model: nn.Module  # the bare model: state dicts come from here
    trained: nn.Module  # what the training step calls (DDP / compiled wrapper, or the model)
    evaluated: nn.Module  # what val sees and what is kept (the EMA's copy, or the model)
    ema: torch.optim.swa_utils.AveragedModel | None
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    loss_fn: nn.Module
    pos_weight: float
    generator: torch.Generator  # batch order, shared by every rank
    aug_generator: torch.Generator  # augmentation randomness, each rank its own
    folder: Path
    start_epoch: int = 1
    best_score: float = -1.0
    best_epoch: int = 0
    stale: int = 0
    train_seconds: float = field(default=0.0)

    @property
    def best_path(self) -> Path:
        return self.folder / "best.pt"

    @property
    def last_path(self) -> Path:
        return self.folder / "last.pt"


def checkpoint_dir(run_id: int) -> Path:
    path = artifacts_root() / "runs" / str(run_id)
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_atomically(state: dict, path: Path) -> None:
    """A kill mid-write must never leave a truncated checkpoint behind."""
    atomic_write(path, lambda out: torch.save(state, out))


def build_loop(run_id: int, config: TrainConfig, model: nn.Module, device: torch.device,
               train_labels: torch.Tensor, rank: Rank) -> Loop:
    positives = float(train_labels.sum())
    pos_weight = (len(train_labels) - positives) / max(positives, 1.0)
    loss_fn = nn.BCEWithLogitsLoss(  # class-weighted
        pos_weight=torch.tensor(pos_weight, device=device))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.base_lr,  # one kernel on CUDA
                                 weight_decay=config.weight_decay, fused=device.type == "cuda")
    steps_per_epoch = health.batches_per_epoch(len(train_labels), config.batch_size)
    ema = None
    if config.ema_decay:
        ema = torch.optim.swa_utils.AveragedModel(
            model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(config.ema_decay),
            use_buffers=True)
    trained = DistributedDataParallel(model) if rank.distributed else model
    if config.compile:
        trained = torch.compile(trained)  # same parameters; state dicts come from `model`
    return Loop(model=model, trained=trained, evaluated=ema.module if ema is not None else model,
                ema=ema, optimizer=optimizer,
                scheduler=make_scheduler(config, optimizer, steps_per_epoch), loss_fn=loss_fn,
                pos_weight=pos_weight, generator=torch.Generator().manual_seed(config.seed),
                aug_generator=torch.Generator().manual_seed(
                    config.seed + AUGMENT_SEED_STRIDE * (rank.rank + 1)),
                folder=checkpoint_dir(run_id))


def resume_loop(loop: Loop, device: torch.device, rank: Rank) -> None:
    """Restore weights, optimiser, schedule, generators and progress from last.pt, if any."""
    if not loop.last_path.exists():
        return
    state = torch.load(loop.last_path, map_location=device, weights_only=True)
    loop.model.load_state_dict(state["model"])
    if loop.ema is not None and "ema" in state:
        loop.ema.load_state_dict(state["ema"])
    loop.optimizer.load_state_dict(state["optimizer"])
    loop.scheduler.load_state_dict(state["scheduler"])
    loop.generator.set_state(state["generator"].cpu())  # map_location put it on the GPU
    if rank.is_main and "aug_generator" in state:
        loop.aug_generator.set_state(state["aug_generator"].cpu())
    loop.start_epoch = int(state["epoch"]) + 1
    loop.best_score, loop.best_epoch = float(state["best_auc"]), int(state["best_epoch"])
    loop.stale = int(state["stale"])


def save_last(loop: Loop, run_id: int, epoch: int) -> None:
    save_atomically({"model": loop.model.state_dict(), "optimizer": loop.optimizer.state_dict(),
                     "scheduler": loop.scheduler.state_dict(),
                     "generator": loop.generator.get_state(), "epoch": epoch,
                     "best_auc": loop.best_score, "best_epoch": loop.best_epoch,
                     "stale": loop.stale, "aug_generator": loop.aug_generator.get_state(),
                     **({"ema": loop.ema.state_dict()} if loop.ema is not None else {})},
                    loop.last_path)
    runs.update_run(run_id, last_checkpoint_path=loop.last_path.relative_to(
        artifacts_root()).as_posix())


def keep_best(loop: Loop, run_id: int, epoch: int, score: float) -> None:
    """Checkpoint the evaluated weights when val improved; count stale epochs otherwise."""
    if score > loop.best_score:
        loop.best_score, loop.best_epoch, loop.stale = score, epoch, 0
        save_atomically(loop.evaluated.state_dict(), loop.best_path)
        runs.update_run(run_id, best_epoch=epoch,
                           checkpoint_path=loop.best_path.relative_to(artifacts_root()).as_posix())
    else:
        loop.stale += 1


def bce(probability: np.ndarray, labels: np.ndarray) -> float:
    probability = np.clip(probability, 1e-7, 1 - 1e-7)
    return float(-np.mean(labels * np.log(probability) + (1 - labels) * np.log(1 - probability)))


@dataclass(frozen=True)
class EpochResult:
    epoch: int
    train_loss: float
    images_per_second: float
    learning_rate: float
    steps: int
    started: float  # perf_counter at the epoch's start


def validate_and_record(run_id: int, result: EpochResult, epochs: int,
                        probability: np.ndarray, val_labels: np.ndarray) -> float:
    """Write the epoch row from val's (uncalibrated) probabilities; returns the score kept."""
    both = len(set(val_labels.tolist())) == 2
    val_auc = float(roc_auc_score(val_labels, probability)) if both else None
    val_accuracy = float(np.mean((probability >= 0.5) == (val_labels == 1)))
    runs.record_epoch(run_id, epoch=result.epoch, train_loss=result.train_loss,
                         val_loss=bce(probability, val_labels), val_accuracy=val_accuracy,
                         val_auc=val_auc, learning_rate=result.learning_rate,
                         seconds=time.perf_counter() - result.started,
                         images_per_second=result.images_per_second, steps=result.steps)
    auc_text = "None" if val_auc is None else f"{val_auc:.4f}"
    tqdm.write(f"epoch {result.epoch}/{epochs}: loss {result.train_loss:.4f}  val acc "
               f"{val_accuracy:.3f}  val AUC {auc_text}  {result.images_per_second:.1f} img/s")
    return val_auc if val_auc is not None else val_accuracy
