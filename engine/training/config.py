"""The training config: one frozen dataclass, saved with the run (`cxr train` options map onto
its fields; engine/training/recipes.py names sets of them)."""

from __future__ import annotations

from dataclasses import dataclass

from engine.data.pixels import INTENSITY_MODES
from engine.errors import UserError
from engine.evaluation.thresholds import parse_threshold_rule
from engine.models import REGISTRY

PRECISIONS = ("fp32", "bf16")
# Each number's allowed range: (field, low, high, whether low itself is allowed); NaN is in none.
RANGES = (
    ("base_lr", 0.0, 1.0, False), ("max_lr", 0.0, 1.0, False), ("weight_decay", 0.0, 1.0, True),
    ("patience", 0, 10_000, True), ("label_smoothing", 0.0, 0.5, True),
    ("ema_decay", 0.0, 0.999_999, True), ("augment_strength", 0.0, 10.0, True),
    ("crop_scale_min", 0.05, 1.0, True), ("shear_degrees", 0.0, 45.0, True),
    ("test_center_crop", 0.1, 1.0, True), ("jpeg_share", 0.0, 1.0, True),
    ("acquisition", 0.0, 1.0, True), ("mixup_alpha", 0.0, 100.0, True),
)


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
    # Operating point, chosen on val (engine/evaluation/thresholds.py): "youden", "youden-middle",
    # or
    # "sensitivity:0.95" (highest threshold that keeps val sensitivity at least 0.95).
    threshold_rule: str = "youden"
    calibrate: bool = True  # offset/temperature fitted on val, kept only if val ECE drops
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
    # Generalisation levers (engine/training/augmentation.py), all off by default.
    crop_scale_min: float = 1.0  # random resized crop keeping this-1 of the area (1: off)
    shear_degrees: float = 0.0  # with the crop, a shear of up to this many degrees
    test_center_crop: float = 1.0  # at val/test/scoring, keep the middle share of each side
    jpeg_share: float = 0.0  # share of each batch swapped for a JPEG q30-95 re-encoding
    acquisition: float = 0.0  # chance of each of downscale-upscale, blur and gamma per image
    mixup_alpha: float = 0.0  # mixup Beta(alpha, alpha); 0: off

    def validate(self) -> None:
        if self.arch not in REGISTRY:
            raise UserError(f"unknown --arch {self.arch!r}; choose one of {', '.join(REGISTRY)}")
        if self.schedule not in ("cyclic", "onecycle"):
            raise UserError(f"unknown --schedule {self.schedule!r}; use cyclic or onecycle")
        for field, low in (("epochs", 1), ("image_size", 32), ("batch_size", 2), ("seed", 0),
                           ("split_seed", 0)):
            if getattr(self, field) < low:
                raise UserError(f"--{field.replace('_', '-')} must be at least {low}")
        for field, low, high, low_allowed in RANGES:
            value = getattr(self, field)
            if not (low <= value <= high) or (value == low and not low_allowed):
                bound = "from" if low_allowed else "above"
                raise UserError(f"--{field.replace('_', '-')} {value}: use a number {bound} {low} "
                                f"up to {high}")
        if self.max_lr < self.base_lr:
            raise UserError(f"--max-lr {self.max_lr} is below the base rate {self.base_lr}")
        parse_threshold_rule(self.threshold_rule)
        if self.precision not in PRECISIONS:
            raise UserError(f"unknown --precision {self.precision!r}; use one of "
                            f"{', '.join(PRECISIONS)}")
        if self.intensity_norm not in INTENSITY_MODES:
            raise UserError(f"unknown --intensity-norm {self.intensity_norm!r}; use one of "
                            f"{', '.join(INTENSITY_MODES)}")
