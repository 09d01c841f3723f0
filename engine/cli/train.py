"""`cxr train` and `cxr compare`: build a TrainConfig from the options, train, print the runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine import settings
from engine.cli.options import Command, add_train_options, data_arg
from engine.errors import UserError
from engine.training.recipes import LEVER_OPTIONS

# Options that map one-to-one onto TrainConfig fields. Their argparse default is None, so a
# recipe's value stands unless the option is given explicitly.
TRAIN_FIELDS = ("arch", "epochs", "image_size", "batch_size", "seed", "split_seed", "schedule",
                "patience", "pretrained", "weights", "device", "max_lr", "weight_decay",
                "threshold_rule", "tta", "calibrate", "intensity_norm", "ema_decay",
                "label_smoothing", "augment_strength", "channels_last", "precision", "compile",
                "name", *LEVER_OPTIONS)


def train_arguments(parser: argparse.ArgumentParser) -> None:
    add_train_options(parser)
    parser.add_argument("--name", help="run name")
    parser.add_argument("--nproc", type=int, default=1,
                        help="train with DistributedDataParallel over N local processes "
                             "(gloo on CPU, NCCL on GPU)")
    parser.add_argument("--resume", type=int, metavar="RUN_ID",
                        help="continue a failed or interrupted run from its last checkpoint")


def compare_arguments(parser: argparse.ArgumentParser) -> None:
    add_train_options(parser, with_arch=False)
    parser.add_argument("--archs", nargs="+", default=["resnet18", "resnet34",
                                                       "efficientnet_b0"])


def train_config(args: argparse.Namespace, data: str, arch: str | None = None):  # noqa: ANN201
    """The TrainConfig the options ask for: a recipe's values, then every option given."""
    from engine.training.recipes import recipe_settings
    from engine.training.train import TrainConfig

    fields = recipe_settings(args.recipe) if getattr(args, "recipe", None) else {}
    fields.update({field: getattr(args, field) for field in TRAIN_FIELDS
                   if getattr(args, field, None) is not None})
    if arch:
        fields["arch"] = arch
    if "device" not in fields and settings.CXR_DEVICE.get():
        fields["device"] = settings.CXR_DEVICE.get()
    fields["data"] = str(Path(data).expanduser().resolve())
    return TrainConfig(**fields)


def cmd_train(args: argparse.Namespace) -> int:
    from engine.cli.runs import print_run_summary
    from engine.training.train import TrainConfig, main

    if args.nproc < 1:
        raise UserError("--nproc must be at least 1")
    if args.resume is not None:
        run_id = main(TrainConfig(), resume_run_id=args.resume, nproc=args.nproc)
    else:
        run_id = main(train_config(args, data_arg(args.data)), nproc=args.nproc)
    print_run_summary([run_id])
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from engine.cli.runs import print_run_summary
    from engine.training.train import main

    data = data_arg(args.data)
    run_ids = []
    for arch in args.archs:
        print(f"== {arch} ==", flush=True)
        run_ids.append(main(train_config(args, data, arch=arch)))
    print_run_summary(run_ids, split="test")
    return 0


COMMANDS = {
    "train": Command("train a model, then evaluate it with Grad-CAM", train_arguments,
                     cmd_train),
    "compare": Command("train and compare the three architectures", compare_arguments,
                       cmd_compare),
}
