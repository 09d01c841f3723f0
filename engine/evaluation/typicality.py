"""Typicality: is this image like the ones the model learned from?

Fitted once at the end of training: the penultimate features (what enters the classifier
head, captured by a forward pre-hook, so it works for every architecture in engine/models.py)
of the training images give a mean and a Ledoit-Wolf shrinkage covariance; an image's
Mahalanobis distance to them measures how far it lies from the training population. The
threshold is the 99th percentile of the val images' distances, so about 1% of our own val is
flagged by construction.

An image's typicality is its distance divided by the run's threshold: above 1.0 it is "outside
the training population". An ensemble's typicality is the largest of its members' (so it flags
an image when any member does). Evaluation and scoring read the features from the forward pass
that already yields the probability and the Grad-CAM; no second pass.

The stats are saved as `runs/<id>/typicality.npz` under the artifacts root (plain arrays,
loaded with `allow_pickle=False`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from db import runs
from db.files import atomic_write
from db.session import artifacts_root
from engine.data.pixels import to_input
from engine.errors import UserError
from engine.models import REGISTRY, get_module

PERCENTILE = 99.0
STATS_FILE = "typicality.npz"


class FeatureTap:
    """Records the input of a model's classifier head (its pooled penultimate features)."""

    def __init__(self, model: nn.Module, arch: str) -> None:
        head = get_module(model, REGISTRY[arch].head)
        self.captured: list[torch.Tensor] = []
        self._handle = head.register_forward_pre_hook(self._hook)

    def _hook(self, _module: nn.Module, args: tuple) -> None:
        self.captured.append(args[0].detach().flatten(1).float().cpu())

    def first(self) -> np.ndarray:
        """Features of the first forward pass since `clear` (the unaugmented view)."""
        if not self.captured:
            raise RuntimeError("no forward pass went through the classifier head")
        return self.captured[0].numpy().astype(np.float64)

    def clear(self) -> None:
        self.captured.clear()

    def close(self) -> None:
        self._handle.remove()


@dataclass(frozen=True)
class TypicalityStats:
    mean: np.ndarray  # (F,)
    precision: np.ndarray  # (F, F), inverse of the shrunk covariance
    threshold: float  # distance at the 99th percentile of val

    def distance(self, features: np.ndarray) -> np.ndarray:
        """Mahalanobis distance of each row of (N, F) features to the training mean."""
        centred = np.asarray(features, dtype=np.float64) - self.mean
        squared = np.sum((centred @ self.precision) * centred, axis=1)
        return np.sqrt(np.clip(squared, 0.0, None))

    def ratio(self, features: np.ndarray) -> np.ndarray:
        """Distance in units of the threshold: above 1 is outside the training population."""
        return self.distance(features) / max(self.threshold, 1e-12)

    def save(self, path: Path) -> None:
        atomic_write(path, lambda out: np.savez(out, mean=self.mean, precision=self.precision,
                                                threshold=np.array(self.threshold)))

    @classmethod
    def load(cls, path: Path) -> TypicalityStats:
        try:
            with np.load(path, allow_pickle=False) as stored:
                return cls(stored["mean"], stored["precision"], float(stored["threshold"]))
        except (OSError, KeyError, ValueError) as exc:
            raise UserError(f"typicality stats {path} cannot be read ({exc}); retrain the "
                            "run to refit them") from exc


@torch.no_grad()
def extract_features(model: nn.Module, arch: str, store: torch.Tensor | np.ndarray,
                     device: torch.device, batch_size: int = 64) -> np.ndarray:
    """(N, F) penultimate features of a uint8 image store, in eval mode."""
    model.eval()
    tap = FeatureTap(model, arch)
    try:
        for offset in range(0, len(store), batch_size):
            model(to_input(store[offset:offset + batch_size]).to(device))
        return torch.cat(tap.captured).numpy().astype(np.float64)
    finally:
        tap.close()


def fit_stats(train_features: np.ndarray, val_features: np.ndarray,
              percentile: float = PERCENTILE) -> TypicalityStats:
    """Mean and shrinkage precision of the training features; threshold from val."""
    from sklearn.covariance import LedoitWolf  # fitting only: scoring never imports sklearn

    estimate = LedoitWolf().fit(train_features)
    stats = TypicalityStats(estimate.location_, estimate.precision_, 0.0)
    threshold = float(np.percentile(stats.distance(val_features), percentile))
    return TypicalityStats(stats.mean, stats.precision, threshold)


def fit_run_typicality(run_id: int, arch: str, model: nn.Module, train_store: torch.Tensor,
                       val_store: torch.Tensor, device: torch.device,
                       batch_size: int = 64) -> TypicalityStats:
    """Fit the run's typicality stats on its training images, save them, record the run."""
    stats = fit_stats(extract_features(model, arch, train_store, device, batch_size),
                      extract_features(model, arch, val_store, device, batch_size))
    path = artifacts_root() / "runs" / str(run_id) / STATS_FILE
    stats.save(path)
    runs.update_run(run_id, typicality_path=path.relative_to(artifacts_root()).as_posix(),
                       typicality_threshold=stats.threshold)
    return stats


def load_run_stats(run: runs.RunInfo) -> TypicalityStats | None:
    """A run's stats, or None for a run trained before typicality existed."""
    if not run.typicality_path:
        return None
    return TypicalityStats.load(artifacts_root() / run.typicality_path)


def combine_members(ratios: list[np.ndarray | None]) -> np.ndarray | None:
    """An ensemble's typicality: the largest member ratio (members without stats are skipped)."""
    known = [ratio for ratio in ratios if ratio is not None]
    return np.max(np.stack(known), axis=0) if known else None


def outside(ratio: float | None) -> bool | None:
    return None if ratio is None else bool(ratio > 1.0)
