"""Grad-CAM for one target layer, and its overlay, as pytorch-grad-cam computes them.

pytorch-grad-cam's package import pulls torchvision (and with it torch._dynamo), scikit-learn,
SciPy, Matplotlib and ttach for methods we never use: about 4 s and 400 MB on every process
that scores one image. This module does the same arithmetic as its `GradCAM` (mean gradient
per channel, weighted sum of activations, ReLU, per-image min-max scaling, resize) and its
`show_cam_on_image`, with torch, NumPy and OpenCV only. tests/test_gradcam.py holds both equal
to the library's on real models; the library stays the reference there and for ROAD.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np
import torch
from torch import nn


def scale_cams(cams: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """Each (H, W) map shifted to 0 and divided by its max, then resized to (width, height)."""
    scaled = []
    for cam in cams:
        cam = cam - np.min(cam)
        cam = cam / (1e-7 + np.max(cam))
        if size is not None:
            cam = cv2.resize(np.float32(cam), size)
        scaled.append(cam)
    return np.float32(scaled)


class GradCam:
    """Grad-CAM on one layer; `cam(inputs, targets)` -> (N, H, W) in [0, 1], `cam.outputs`."""

    def __init__(self, model: nn.Module, target_layer: nn.Module) -> None:
        self.model = model.eval()
        self.outputs: torch.Tensor | None = None
        self._activation: torch.Tensor | None = None
        self._gradient: torch.Tensor | None = None
        self._handle = target_layer.register_forward_hook(self._on_forward)

    def _on_forward(self, _module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        self._activation = output.detach().cpu()
        if output.requires_grad:
            output.register_hook(self._on_gradient)

    def _on_gradient(self, gradient: torch.Tensor) -> None:
        self._gradient = gradient.detach().cpu()

    def __call__(self, input_tensor: torch.Tensor,
                 targets: Sequence[Callable[[torch.Tensor], torch.Tensor]]) -> np.ndarray:
        self._activation = self._gradient = None
        self.outputs = outputs = self.model(input_tensor)
        self.model.zero_grad()
        loss = sum(target(output) for target, output in zip(targets, outputs, strict=True))
        loss.backward(retain_graph=True)
        activations = self._activation.numpy()
        weights = np.mean(self._gradient.numpy(), axis=(2, 3))
        cam = np.maximum((weights[:, :, None, None] * activations).sum(axis=1), 0)
        width, height = input_tensor.size(-1), input_tensor.size(-2)
        # The library scales per layer (with the resize), then again after averaging layers.
        return scale_cams(np.maximum(scale_cams(cam, (width, height)), 0))

    def close(self) -> None:
        self._handle.remove()
        self._activation = self._gradient = None


def show_cam_on_image(rgb: np.ndarray, cam: np.ndarray, image_weight: float = 0.5) -> np.ndarray:
    """RGB float [0, 1] image + CAM in [0, 1] -> RGB uint8 overlay (JET colour map)."""
    heatmap = cv2.cvtColor(cv2.applyColorMap(np.uint8(255 * cam), cv2.COLORMAP_JET),
                           cv2.COLOR_BGR2RGB)
    blended = (1 - image_weight) * (np.float32(heatmap) / 255) + image_weight * rgb
    return np.uint8(255 * (blended / np.max(blended)))
