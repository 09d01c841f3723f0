"""Grad-CAM with pytorch-grad-cam, batched, in the same pass that yields the probabilities.

The CAM explains the class each image is predicted as, at the run's threshold. Every model
parameter is frozen while explaining and the target layer's output is made the only leaf that
needs a gradient, so the backward pass runs through the head alone: Grad-CAM then costs little
more than plain inference.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.image import show_cam_on_image
from torch import nn

from engine.data.pixels import to_input, tta_batches
from engine.evaluation.calibration import Calibration
from engine.models import cam_target_layer

OVERLAY_MIN_SIZE = 224


class PredictedClassTarget:
    """Grad-CAM target for a one-logit model: the logit's evidence for the predicted class.

    pytorch-grad-cam's BinaryClassifierOutputTarget needs the class up front; this picks it
    from the output itself, so one forward pass gives both the prediction and its CAM.
    """

    def __init__(self, threshold_logit: float) -> None:
        self.threshold_logit = threshold_logit

    def __call__(self, model_output: torch.Tensor) -> torch.Tensor:
        logit = model_output[..., 0]
        sign = 1.0 if float(logit.detach()) >= self.threshold_logit else -1.0
        return logit * sign


class CamExplainer:
    """Batched probabilities + Grad-CAM for one model. Use as a context manager."""

    def __init__(self, model: nn.Module, arch: str, threshold: float = 0.5,
                 calibration: Calibration | None = None, tta: bool = False) -> None:
        self.model = model.eval()
        self.calibration = calibration or Calibration()
        self.tta = tta
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        layer = cam_target_layer(self.model, arch)
        # Registered before GradCAM's own hooks, so it runs first: the activation becomes a
        # grad-requiring leaf and backward stops there instead of walking the whole network.
        self._hook = layer.register_forward_hook(lambda _m, _i, out: out.requires_grad_(True))
        self._cam = GradCAM(model=self.model, target_layers=[layer])
        self.threshold_logit = self.calibration.threshold_logit(threshold)

    def __enter__(self) -> CamExplainer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._cam.__exit__(None, None, None)
        self._hook.remove()

    def explain(self, batch_uint8: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """(N, H, W) uint8 -> (P(pneumonia) of shape (N,), CAMs of shape (N, H, W) in [0, 1]).

        P is calibrated by the run's logit offset and temperature. With TTA, P averages the
        logits of a few shifted and zoomed views (the CAM is the unchanged view's).
        """
        device = next(self.model.parameters()).device
        if isinstance(batch_uint8, np.ndarray):
            batch_uint8 = torch.from_numpy(np.ascontiguousarray(batch_uint8))
        inputs = to_input(batch_uint8.to(device))  # uint8 crosses to a GPU: 4x fewer bytes
        targets = [PredictedClassTarget(self.threshold_logit)] * inputs.shape[0]
        cams = self._cam(input_tensor=inputs, targets=targets)
        logits = self._cam.outputs.detach().float().cpu()[:, 0]
        if self.tta:
            with torch.no_grad():
                views = [self.model(view)[:, 0].float().cpu() for view in tta_batches(inputs)[1:]]
            logits = torch.stack([logits, *views]).mean(dim=0)
        probability = self.calibration.apply(logits)
        return probability.numpy(), cams.astype(np.float32)


def overlay(gray: np.ndarray, cam: np.ndarray, size: int | None = None) -> np.ndarray:
    """RGB uint8 overlay of a CAM on its grayscale image (pytorch-grad-cam's colouring)."""
    size = size or max(gray.shape[0], OVERLAY_MIN_SIZE)
    if gray.shape[0] != size:
        gray = cv2.resize(gray, (size, size), interpolation=cv2.INTER_LINEAR)
    if cam.shape[0] != size:
        cam = cv2.resize(cam, (size, size), interpolation=cv2.INTER_LINEAR)
    rgb = np.repeat(gray[..., None], 3, axis=2).astype(np.float32) / 255.0
    return show_cam_on_image(rgb, cam, use_rgb=True, image_weight=0.55)


def save_cam_files(gray: np.ndarray, cam: np.ndarray, png_path: Path) -> Path:
    """Write the overlay PNG and, beside it, the raw CAM as float16 .npy. Returns the .npy."""
    png_path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(overlay(gray, cam)).save(png_path, compress_level=1)
    raw_path = png_path.with_suffix(".npy")
    np.save(raw_path, cam.astype(np.float16))
    return raw_path


class CamWriter:
    """Writes overlay files on a small thread pool while the next batch is computed."""

    def __init__(self, workers: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers)
        self._futures = []

    def submit(self, gray: np.ndarray, cam: np.ndarray, png_path: Path) -> None:
        self._futures.append(self._pool.submit(save_cam_files, gray, cam, png_path))

    def wait(self) -> None:
        try:
            for future in self._futures:
                future.result()
        finally:
            self._futures.clear()
            self._pool.shutdown(wait=True)
