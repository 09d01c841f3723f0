"""engine/gradcam.py against pytorch-grad-cam itself, on real images through real models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.image import show_cam_on_image as library_overlay

from engine.explain import PredictedClassTarget
from engine.gradcam import GradCam, show_cam_on_image
from engine.models import cam_target_layer, create_model
from engine.pixels import load_gray, to_input
from tests.conftest import real_data_root


def _real_batch(size: int) -> np.ndarray:
    root = real_data_root()
    paths = [*sorted((root / "NORMAL").iterdir())[:3], *sorted((root / "PNEUMONIA").iterdir())[:3]]
    return np.stack([load_gray(Path(path), size) for path in paths])


@pytest.mark.parametrize("arch", ["small_cnn", "resnet18"])
def test_cams_and_overlays_equal_the_librarys(arch: str) -> None:
    torch.manual_seed(0)
    model = create_model(arch).eval()
    grays = _real_batch(64)
    inputs = to_input(grays)
    layer = cam_target_layer(model, arch)
    targets = [PredictedClassTarget(0.0)] * len(grays)
    with GradCAM(model=model, target_layers=[layer]) as reference:
        expected = reference(input_tensor=inputs, targets=targets)
        expected_logits = reference.outputs.detach().clone()
    ours = GradCam(model, layer)
    cams = ours(inputs, targets)
    ours.close()
    assert cams.shape == expected.shape == (6, 64, 64) and cams.dtype == expected.dtype
    assert np.allclose(cams, expected, atol=1e-5) and cams.max() > 0.99
    assert torch.allclose(ours.outputs, expected_logits)
    for gray, cam in zip(grays, cams, strict=True):
        rgb = np.repeat(gray[..., None], 3, axis=2).astype(np.float32) / 255.0
        assert np.array_equal(show_cam_on_image(rgb, cam, image_weight=0.55),
                              library_overlay(rgb, cam, use_rgb=True, image_weight=0.55))
