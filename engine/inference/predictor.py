"""A run's way from gray pixels to calibrated probabilities and Grad-CAMs.

Every consumer (evaluation, robustness checks, live scoring) asks `predictor_for(run)` and calls
`explain(batch)` on (N, size, size) uint8 images. A trained run is its model under Grad-CAM
(with its temperature, threshold and optional TTA); an ensemble averages its members'
probabilities (or temperature-scaled logits) and their CAMs, each member at its own image size.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import nn

from db import runs
from db.session import artifacts_root
from engine.data.pixels import normalize_intensity, to_input, tta_batches
from engine.errors import UserError
from engine.evaluation.calibration import Calibration, logit
from engine.evaluation.typicality import FeatureTap, combine_members, load_run_stats
from engine.explain.gradcam import CamExplainer
from engine.models import create_model, load_checkpoint
from engine.training.augmentation import center_crop
from engine.training.devices import configure, resolve_device

ENSEMBLE_ARCH = "ensemble"
Typicality = np.ndarray | None


def require_checkpoint(run: runs.RunInfo, doing: str) -> None:
    """A one-line refusal where the model itself is needed and the run is an imported one."""
    if run.is_external:
        raise UserError(f"run {run.id} is an external model: no checkpoint, no Grad-CAM (its "
                        f"predictions were imported), so it cannot {doing}")


def load_run_model(run: runs.RunInfo,
                   device: torch.device | str | None = None) -> torch.nn.Module:
    """The run's best checkpoint in eval mode on `device` (None: $CXR_DEVICE, else auto)."""
    require_checkpoint(run, "load a model")
    if not run.checkpoint_path:
        raise UserError(f"run {run.id} has no checkpoint yet (status {run.status})")
    model = create_model(run.arch)
    load_checkpoint(model, artifacts_root() / run.checkpoint_path)
    device = resolve_device(device)
    configure(device, training=False)  # full fp32: the same probabilities on GPU and CPU
    return model.to(device).eval()


@torch.no_grad()
def predict_logits(model: nn.Module, store: torch.Tensor, device: torch.device,
                   batch_size: int = 64, tta: bool = False) -> np.ndarray:
    """Uncalibrated logits for every image of a uint8 store, no Grad-CAM."""
    model.eval()
    logits = []
    for i in range(0, len(store), batch_size):
        inputs = to_input(store[i:i + batch_size]).to(device)
        views = tta_batches(inputs) if tta else [inputs]
        logits.append(torch.stack([model(view)[:, 0].float().cpu() for view in views])
                      .mean(dim=0))
    return torch.cat(logits).numpy() if logits else np.zeros(0)


def predict(model: nn.Module, store: torch.Tensor, device: torch.device,
            batch_size: int = 64) -> np.ndarray:
    """P(pneumonia), uncalibrated, for every image of a uint8 store."""
    return Calibration().apply(predict_logits(model, store, device, batch_size))


def prepare_films(config: dict, batch: np.ndarray) -> np.ndarray:
    """Films (N, H, W) uint8 as the run's model takes them: its intensity normalisation and
    test-time centre crop, as at training."""
    return center_crop(normalize_intensity(np.asarray(batch), config.get("intensity_norm", "none")),
                       float(config.get("test_center_crop", 1.0)))


class ModelPredictor:
    def __init__(self, run: runs.RunInfo, device: torch.device | str | None = None) -> None:
        self.run = run
        self.size = int(run.config["image_size"])
        model = load_run_model(run, device)
        self._explainer = CamExplainer(model, run.arch, run.threshold,
                                       Calibration(run.logit_offset, run.temperature),
                                       tta=bool(run.config.get("tta")))
        # Typicality and the feature map read the head's input during the Grad-CAM pass: no
        # second forward.
        self._typicality = load_run_stats(run)
        self._tap = FeatureTap(model, run.arch)
        self.last_features: np.ndarray | None = None

    def explain(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.explain_full(batch)[:2]

    def explain_full(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, Typicality]:
        """(P(pneumonia), CAMs, typicality: distance / threshold, or None without stats)."""
        self._tap.clear()
        probability, cams = self._explainer.explain(self._prepared(batch))
        self.last_features = self._tap.first()
        typicality = (self._typicality.ratio(self.last_features)
                      if self._typicality is not None else None)
        return probability, cams, typicality

    def _prepared(self, batch: np.ndarray) -> np.ndarray:
        return prepare_films(self.run.config, batch)

    def features_only(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(calibrated P(pneumonia), penultimate features) without Grad-CAM: the same
        probability `explain_full` gives, from one no-grad forward (and the TTA views)."""
        self._tap.clear()
        model = self._explainer.model
        logits = predict_logits(model, torch.from_numpy(np.array(
            self._prepared(batch))), next(model.parameters()).device, len(batch),
            tta=self._explainer.tta)
        self.last_features = self._tap.first()
        probability = np.asarray(self._explainer.calibration.apply(logits), dtype=np.float32)
        return probability, self.last_features

    def close(self) -> None:
        self._tap.close()
        self._explainer.close()


def _resize_all(batch: np.ndarray, size: int,
                interpolation: int = cv2.INTER_AREA) -> np.ndarray:
    if batch.shape[1] == size:
        return batch
    return np.stack([cv2.resize(image, (size, size), interpolation=interpolation)
                     for image in batch])


def combine_probabilities(stacked: np.ndarray, combine: str, temperature: float = 1.0,
                          logit_offset: float = 0.0) -> np.ndarray:
    """(members, N) calibrated probabilities -> the ensemble's calibrated P, shape (N,).

    The mean of the probabilities ("prob") or of their logits ("logit"), then the ensemble's
    own calibration, sigmoid((logit - offset) / T), fitted on val (engine/evaluation/ensembles.py).
    """
    combined = logit(stacked).mean(axis=0) if combine == "logit" else logit(stacked.mean(axis=0))
    return Calibration(logit_offset, temperature).apply(combined)


class EnsemblePredictor:
    def __init__(self, run: runs.RunInfo, device: torch.device | str | None = None) -> None:
        self.run = run
        device = resolve_device(device)  # once, so every member lands on the same one
        self.members = [ModelPredictor(runs.get_run(member), device)
                        for member in run.config["members"]]
        self.size = int(run.config["image_size"])
        self.combine = run.config.get("combine", "prob")

    def explain(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.explain_full(batch)[:2]

    def explain_full(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, Typicality]:
        """Combined P and CAM; typicality is the largest member's (flagged if any member is)."""
        probabilities, cams, typicalities = [], [], []
        for member in self.members:
            probability, cam, typicality = member.explain_full(_resize_all(batch, member.size))
            probabilities.append(probability)
            cams.append(_resize_all(cam, self.size, cv2.INTER_LINEAR))
            typicalities.append(typicality)
        combined = combine_probabilities(np.stack(probabilities), self.combine,
                                         self.run.temperature, self.run.logit_offset)
        return (combined.astype(np.float32), np.mean(cams, axis=0).astype(np.float32),
                combine_members(typicalities))

    @property
    def last_features(self) -> np.ndarray | None:
        """An ensemble's feature space is its first member's (engine/evaluation/feature_map.py)."""
        return self.members[0].last_features

    def features_only(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The ensemble's P without Grad-CAM, and its first member's features."""
        probabilities = [member.features_only(_resize_all(batch, member.size))[0]
                         for member in self.members]
        combined = combine_probabilities(np.stack(probabilities), self.combine,
                                         self.run.temperature, self.run.logit_offset)
        return combined.astype(np.float32), self.members[0].last_features

    def close(self) -> None:
        for member in self.members:
            member.close()


def predictor_for(run: runs.RunInfo, device: torch.device | str | None = None,
                  ) -> ModelPredictor | EnsemblePredictor:
    """The run's predictor with its model(s) on `device` (None: $CXR_DEVICE, else auto)."""
    require_checkpoint(run, "score or explain images")
    if run.arch == ENSEMBLE_ARCH:
        return EnsemblePredictor(run, device)
    return ModelPredictor(run, device)
