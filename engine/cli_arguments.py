"""The arguments of each `cxr` command, one small function a command (engine/cli.py wires them
to their handlers). Pure argparse: importing this module loads nothing heavy."""

from __future__ import annotations

import argparse

from engine.training.recipes import LEVER_OPTIONS

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


def ingest(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data_dir", nargs="?", help="dataset root (default: $CXR_DATA)")
    parser.add_argument("--name", help="dataset name (default: folder name)")


def train(parser: argparse.ArgumentParser) -> None:
    add_train_options(parser)
    parser.add_argument("--name", help="run name")
    parser.add_argument("--nproc", type=int, default=1,
                        help="train with DistributedDataParallel over N local processes "
                             "(gloo on CPU, NCCL on GPU)")
    parser.add_argument("--resume", type=int, metavar="RUN_ID",
                        help="continue a failed or interrupted run from its last checkpoint")


def evaluate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id", type=int)
    parser.add_argument("--split", default="val", choices=["val", "test"])
    parser.add_argument("--nproc", type=int, default=1,
                        help="shard the images over N local processes")
    parser.add_argument("--device", help=DEVICE_HELP)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data", help="evaluate on an external dataset folder instead")
    source.add_argument("--shift", metavar="NAME",
                        help="robustness check: evaluate val under an acquisition shift "
                             "(contrast-low, gamma-1.5, blur, noise, jpeg-q20, rotate-8, "
                             "zoom-in, histeq, ...) or `all`")
    source.add_argument("--uploads", action="store_true",
                        help="evaluate on the uploads whose true label an analyst recorded")


def score(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--run", type=int, action="append", metavar="ID",
                       help="score with this run (repeatable; default: every completed run)")
    which.add_argument("--all", action="store_true",
                       help="score with every completed run (the default)")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument("--device", help=DEVICE_HELP)
    parser.add_argument("--force", action="store_true",
                        help="score files that fail the input checks (under 64 px on a side, "
                             "aspect beyond 3:1, DICOM not CR/DX or not chest); the scores are "
                             "stored as forced, with the reason")


def road(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id", type=int)
    parser.add_argument("--split", default="val", choices=["val", "test", "external"])
    parser.add_argument("--sample", type=int, default=100, help="images to score (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", help=DEVICE_HELP)


def check_masks(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", help="dataset root (default: $CXR_DATA)")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--show", type=int, default=30, help="outliers to list")


def ensemble(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_ids", type=int, nargs="+", metavar="RUN")
    parser.add_argument("--name")
    parser.add_argument("--combine", choices=["prob", "logit"], default="prob",
                        help="average probabilities (default) or logits with a temperature")
    parser.add_argument("--threshold-rule", default="youden")
    parser.add_argument("--device", help=DEVICE_HELP)


def runs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--split", default="test", choices=["val", "test"])


def compare(parser: argparse.ArgumentParser) -> None:
    add_train_options(parser, with_arch=False)
    parser.add_argument("--archs", nargs="+", default=["resnet18", "resnet34",
                                                       "efficientnet_b0"])


def demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", help="use this dataset instead of synthetic data")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--images-per-class", type=int, default=200,
                        help="synthetic images drawn per class (default 200)")
    parser.add_argument("--no-serve", action="store_true", help="do not start the dashboard")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8050)


def serve(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8050)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--debug", action="store_true", help="Dash dev server, debug on")
    parser.add_argument("--no-auth", action="store_true",
                        help="sign-in off: a local demo on a loopback address only")
    parser.add_argument("--https", action="store_true",
                        help="served over HTTPS (e.g. behind a TLS proxy): Secure session cookie")
    parser.add_argument("--device", help="where uploads are scored: " + DEVICE_HELP)
