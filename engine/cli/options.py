"""What every command group shares: the Command entry, the --device help, the training options
and the dataset argument. Pure argparse: importing this module loads nothing heavy."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import NamedTuple

from engine import settings
from engine.errors import UserError
from engine.training.recipes import LEVER_OPTIONS


class Command(NamedTuple):
    """One `cxr` command: its help line, its arguments, its handler (None: its subcommands
    set their own)."""

    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    handler: Callable[[argparse.Namespace], int] | None


def whole_number(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number from `minimum` (up to `maximum`); argparse names the
    option in its one-line error."""
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
        if maximum is not None and not minimum <= number <= maximum:
            raise argparse.ArgumentTypeError(
                f"{number} is out of range: give {minimum} to {maximum}")
        if number < minimum:
            raise argparse.ArgumentTypeError(f"{number}: give {minimum} or more")
        return number
    return parse


def data_arg(value: str | None) -> str:
    """The dataset root given, else $CXR_DATA; a UserError when there is neither."""
    data = value or settings.CXR_DATA.get()
    if not data:
        raise UserError("no dataset: pass --data DIR or set CXR_DATA")
    return data


# engine/training/devices.py resolves the name; it imports torch, so it is imported only when
# needed.
DEVICE_HELP = ("where tensors run: auto (default: the GPU when PyTorch sees one, else the CPU) "
               "| cpu | cuda | cuda:N; default $CXR_DEVICE, else auto")


def add_train_options(parser: argparse.ArgumentParser, with_arch: bool = True) -> None:
    # Defaults live in TrainConfig (engine/training/train.py); None here means "not given".
    if with_arch:
        parser.add_argument("--arch", help="resnet18 (default) | resnet34 | efficientnet_b0 | "
                            "small_cnn")
    parser.add_argument("--recipe", help="start from a named recipe: best | reference")
    parser.add_argument("--data", help="dataset root (default: $CXR_DATA)")
    parser.add_argument("--epochs", type=int, help="default 10")
    parser.add_argument("--image-size", type=int, help="default 224")
    parser.add_argument("--batch-size", type=int, help="default 32")
    parser.add_argument("--seed", type=int, help="training seed (default 0)")
    parser.add_argument("--split-seed", type=int,
                        help="seed of the patient-level train/val/test split (default 0)")
    parser.add_argument("--schedule", choices=["cyclic", "onecycle"],
                        help="cyclic (reference, default) or onecycle")
    parser.add_argument("--max-lr", type=float, help="peak learning rate (default 1e-3)")
    parser.add_argument("--weight-decay", type=float, help="default 0")
    parser.add_argument("--patience", type=int,
                        help="early stopping: epochs without val AUC improvement (default 5)")
    parser.add_argument("--pretrained", action="store_true", default=None,
                        help="start from ImageNet weights in torchvision's local cache")
    parser.add_argument("--weights", help="ImageNet weights file to start from")
    parser.add_argument("--device", help=DEVICE_HELP)
    parser.add_argument("--threshold-rule",
                        help="operating point chosen on val: youden (default), "
                             "youden-middle or sensitivity:0.95")
    parser.add_argument("--tta", action="store_true", default=None,
                        help="test-time augmentation at evaluation (shifts, zooms; no flip)")
    parser.add_argument("--no-calibrate", dest="calibrate", action="store_false", default=None,
                        help="skip temperature scaling on val")
    parser.add_argument("--intensity-norm", choices=["none", "equalize", "clahe"],
                        help="per-image intensity normalisation (default none)")
    parser.add_argument("--ema-decay", type=float, help="EMA of weights, e.g. 0.998 (0 = off)")
    parser.add_argument("--label-smoothing", type=float, help="default 0")
    parser.add_argument("--augment-strength", type=float,
                        help="scales the augmentation jitter (default 1)")
    _add_generalisation_options(parser)
    speed = parser.add_argument_group("speed levers (off by default: see bench/bench_train.py)")
    speed.add_argument("--channels-last", action="store_true", default=None,
                       help="NHWC memory layout for activations and weights")
    speed.add_argument("--precision", choices=["fp32", "bf16"],
                       help="bf16 autocast for the forward pass (default fp32)")
    speed.add_argument("--compile", action="store_true", default=None,
                       help="torch.compile the training step (slow first epoch)")


def _add_generalisation_options(parser: argparse.ArgumentParser) -> None:
    levers = parser.add_argument_group("generalisation levers (off by default; README Recipe)")
    for field, help_text in LEVER_OPTIONS.items():
        levers.add_argument("--" + field.replace("_", "-"), type=float, help=help_text)


def check_device(name: str | None) -> str | None:
    """Resolve --device (or $CXR_DEVICE) now, so a bad one fails before any work; returns the
    name to pass on (None: the default, which every process resolves the same way)."""
    if name or settings.CXR_DEVICE.get():
        from engine.training.devices import resolve_device

        resolve_device(name)
    return name
