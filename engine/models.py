"""Model registry: `create_model(arch, pretrained)`, each entry naming its Grad-CAM layer.

Every model takes one grayscale channel and returns one logit for PNEUMONIA. ImageNet weights
(3-channel stem) are folded into the 1-channel stem by summing over the colour axis, which gives
the same response to a gray image replicated on three channels, for a third of the stem's cost.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from engine.errors import UserError


@dataclass(frozen=True)
class ModelSpec:
    build: Callable[[], nn.Module]
    # Attribute path of the Grad-CAM target layer, e.g. "layer4" or "features.8".
    cam_layer: str
    # Attribute path of the 3-channel stem conv that is folded to 1 channel.
    stem: str
    # Attribute path of the final linear layer, replaced by a 1-logit head.
    head: str
    # torchvision weights enum class name (e.g. "ResNet18_Weights"), for the cache file name
    weights_enum: str | None
    # The block before `cam_layer`, at twice its resolution (`cxr attention --cam-layer fine`).
    fine_cam_layer: str = ""


class SmallCNN(nn.Module):
    """A four-block CNN for fast tests and the demo."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        blocks = []
        channels = 1
        for out in (width, width * 2, width * 4, width * 8):
            blocks += [
                nn.Conv2d(channels, out, 3, padding=1, bias=False),
                nn.BatchNorm2d(out),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            channels = out
        self.features = nn.Sequential(*blocks[:-1])  # keep the last block's spatial detail
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


def _torchvision(name: str) -> Callable[[], nn.Module]:
    """A torchvision builder, imported on first use: torchvision's import costs about 2 s."""
    def build() -> nn.Module:
        from torchvision import models as tv_models

        return getattr(tv_models, name)(weights=None)
    return build


REGISTRY: dict[str, ModelSpec] = {
    "resnet18": ModelSpec(_torchvision("resnet18"), "layer4", "conv1", "fc",
                          "ResNet18_Weights", "layer3"),
    "resnet34": ModelSpec(_torchvision("resnet34"), "layer4", "conv1", "fc",
                          "ResNet34_Weights", "layer3"),
    "efficientnet_b0": ModelSpec(_torchvision("efficientnet_b0"), "features.8", "features.0.0",
                                 "classifier.1", "EfficientNet_B0_Weights", "features.5"),
    "small_cnn": ModelSpec(SmallCNN, "features.14", "features.0", "fc", None,
                           "features.10"),
}


def get_module(model: nn.Module, dotted: str) -> nn.Module:
    return model.get_submodule(dotted)


def _set_module(model: nn.Module, dotted: str, module: nn.Module) -> None:
    parent_name, _, child = dotted.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


def cached_weights_path(arch: str) -> Path:
    """Where torchvision's own download would have put the ImageNet weights of `arch`."""
    weights_name = REGISTRY[arch].weights_enum
    if weights_name is None:
        raise UserError(f"{arch} has no ImageNet weights; train it from scratch")
    from torchvision import models as tv_models

    file_name = Path(getattr(tv_models, weights_name).IMAGENET1K_V1.url).name
    return Path(torch.hub.get_dir()) / "checkpoints" / file_name


def _load_imagenet_state(arch: str, weights_file: str | os.PathLike | None) -> dict:
    path = Path(weights_file) if weights_file else cached_weights_path(arch)
    if not path.is_file():
        raise UserError(
            f"ImageNet weights for {arch} not found at {path}. There is no network here: copy "
            f"the file there (torchvision's cache, $TORCH_HOME/hub/checkpoints) or pass "
            f"--weights FILE, or train from scratch without --pretrained."
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is the file's fault
        raise UserError(f"cannot load weights from {path}: {exc}") from exc
    return state.get("state_dict", state) if isinstance(state, dict) else state


def create_model(arch: str, pretrained: bool = False,
                 weights_file: str | os.PathLike | None = None) -> nn.Module:
    """Build `arch` with a 1-channel stem and a 1-logit head.

    `pretrained=True` (or a `weights_file`) loads ImageNet weights from torchvision's local cache
    or the given file; a missing file is a `UserError` naming the path that was looked for.
    """
    if arch not in REGISTRY:
        raise UserError(f"unknown architecture {arch!r}; choose one of {', '.join(REGISTRY)}")
    spec = REGISTRY[arch]
    model = spec.build()
    if pretrained or weights_file:
        state = _load_imagenet_state(arch, weights_file)
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise UserError(f"weights do not fit {arch}: {str(exc).splitlines()[0]}") from exc
    stem: nn.Conv2d = get_module(model, spec.stem)
    if stem.in_channels != 1:
        gray_stem = nn.Conv2d(1, stem.out_channels, stem.kernel_size, stem.stride,
                              stem.padding, bias=stem.bias is not None)
        with torch.no_grad():
            gray_stem.weight.copy_(stem.weight.sum(dim=1, keepdim=True))
            if stem.bias is not None:
                gray_stem.bias.copy_(stem.bias)
        _set_module(model, spec.stem, gray_stem)
    head: nn.Linear = get_module(model, spec.head)
    if head.out_features != 1:
        _set_module(model, spec.head, nn.Linear(head.in_features, 1))
    return model


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


def cam_target_layer(model: nn.Module, arch: str, fine: bool = False) -> nn.Module:
    spec = REGISTRY[arch]
    return get_module(model, spec.fine_cam_layer if fine else spec.cam_layer)
