"""`cxr`: the command-line tool. The parser is built in a function; each command is small."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from engine.adapt_cli import add_adapt_command
from engine.errors import UserError
from engine.recipes import LEVER_OPTIONS

EXIT_USER_ERROR = 2
# engine/devices.py resolves the name; it imports torch, so it is imported only when needed.
DEVICE_HELP = ("where tensors run: auto (default: the GPU when PyTorch sees one, else the CPU) "
               "| cpu | cuda | cuda:N; default $CXR_DEVICE, else auto")


def _data_arg(value: str | None) -> str:
    data = value or os.environ.get("CXR_DATA")
    if not data:
        raise UserError("no dataset: pass --data DIR or set CXR_DATA")
    return data


def cmd_ingest(args: argparse.Namespace) -> int:
    from engine.data import ingest

    report = ingest(_data_arg(args.data_dir), name=args.name)
    print(f"dataset {report.dataset_id} at {report.root}: {report.total} files, "
          f"{report.added} new, {report.already_known} already registered, "
          f"{sum(report.skipped.values())} skipped")
    for reason, count in report.skipped.most_common():
        print(f"  skipped {count}: {reason}")
    for rel_path, reason in report.skipped_files[:20]:
        print(f"    {rel_path}: {reason}")
    return 0


# Options that map one-to-one onto TrainConfig fields. Their argparse default is None, so a
# recipe's value stands unless the option is given explicitly.
TRAIN_FIELDS = ("arch", "epochs", "image_size", "batch_size", "seed", "split_seed", "schedule",
                "patience", "pretrained", "weights", "device", "max_lr", "weight_decay",
                "threshold_rule", "tta", "calibrate", "intensity_norm", "ema_decay",
                "label_smoothing", "augment_strength", "channels_last", "precision", "compile",
                "name", *LEVER_OPTIONS)


def _train_config(args: argparse.Namespace, data: str, arch: str | None = None):
    from engine.recipes import recipe_settings
    from engine.train import TrainConfig

    settings = recipe_settings(args.recipe) if getattr(args, "recipe", None) else {}
    settings.update({field: getattr(args, field) for field in TRAIN_FIELDS
                     if getattr(args, field, None) is not None})
    if arch:
        settings["arch"] = arch
    if "device" not in settings and os.environ.get("CXR_DEVICE"):
        settings["device"] = os.environ["CXR_DEVICE"]
    settings["data"] = str(Path(data).expanduser().resolve())
    return TrainConfig(**settings)


def cmd_train(args: argparse.Namespace) -> int:
    from engine.queries_cli import print_run_summary
    from engine.train import TrainConfig, main

    if args.nproc < 1:
        raise UserError("--nproc must be at least 1")
    if args.resume is not None:
        run_id = main(TrainConfig(), resume_run_id=args.resume, nproc=args.nproc)
    else:
        run_id = main(_train_config(args, _data_arg(args.data)), nproc=args.nproc)
    print_run_summary([run_id])
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from engine.evaluate import evaluate_run
    from engine.queries_cli import print_evaluation

    dataset_id = None
    if args.uploads:
        from engine.uploads import uploads_dataset

        dataset_id = uploads_dataset()
    if args.shift:
        from engine.queries_cli import print_shift_table
        from engine.shifts import SHIFTS

        names = list(SHIFTS) if args.shift == "all" else [args.shift]
        evaluation_ids = [evaluate_run(args.run_id, shift=name, device=args.device)
                          for name in names]
        print_shift_table(args.run_id, evaluation_ids)
        return 0
    if args.nproc > 1:
        from engine.evaluate import evaluate_distributed

        evaluation_id = evaluate_distributed(args.run_id, args.split, args.nproc,
                                             data_dir=args.data, dataset_id=dataset_id,
                                             device=args.device)
    else:
        evaluation_id = evaluate_run(args.run_id, args.split, data_dir=args.data,
                                     dataset_id=dataset_id, device=args.device)
    print_evaluation(evaluation_id)
    return 0


def cmd_ensemble(args: argparse.Namespace) -> int:
    from engine.ensemble import create_ensemble
    from engine.queries_cli import print_run_summary

    run_id = create_ensemble(args.run_ids, name=args.name, combine=args.combine,
                             threshold_rule=args.threshold_rule, device=args.device)
    print_run_summary([*args.run_ids, run_id])
    return 0


def _use_device(name: str | None) -> None:
    """Check --device now and hand it to the scorers (and a server's workers) via CXR_DEVICE."""
    if name or os.environ.get("CXR_DEVICE"):
        from engine.devices import use_device

        use_device(name)


def cmd_score(args: argparse.Namespace) -> int:
    from engine.score_cli import score_files

    _use_device(args.device)
    return score_files(args.files, run_ids=args.run or None, as_json=args.json,
                       force=args.force)


def cmd_road(args: argparse.Namespace) -> int:
    from engine.road import road_scores

    n, mean = road_scores(args.run_id, args.split, sample=args.sample, seed=args.seed,
                          device=args.device)
    print(f"run {args.run_id} {args.split}: ROAD combined score {mean:.4f} over {n} images "
          "(higher is more faithful)")
    return 0


def cmd_check_masks(args: argparse.Namespace) -> int:
    from engine.data import discover
    from engine.lungmask import PLAUSIBLE_AREA, check_masks
    from engine.pixels import load_store

    entries = discover(_data_arg(args.data))
    grays, failures = load_store([str(e.path) for e in entries], args.image_size, cache=False)
    failed = {index for index, _ in failures}
    kept = [i for i in range(len(entries)) if i not in failed]
    check = check_masks([entries[i].rel_path for i in kept], grays[kept])
    low, high = PLAUSIBLE_AREA
    print(f"lung mask area on {check.n_images} images: mean {check.area_mean:.3f}, "
          f"5th-95th percentile {check.area_p05:.3f}-{check.area_p95:.3f}")
    print(f"plausible ({low:.2f}-{high:.2f} of the image): {check.plausible} "
          f"({100 * check.plausible_share:.1f}%)")
    for name, area in check.outliers[: args.show]:
        print(f"  outlier {area:.3f}  {name}")
    if len(check.outliers) > args.show:
        print(f"  ... and {len(check.outliers) - args.show} more")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from engine.queries_cli import print_run_summary

    print_run_summary(None, split=args.split)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from engine.queries_cli import print_run_summary
    from engine.train import main

    data = _data_arg(args.data)
    run_ids = []
    for arch in args.archs:
        print(f"== {arch} ==", flush=True)
        run_ids.append(main(_train_config(args, data, arch=arch)))
    print_run_summary(run_ids, split="test")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from engine.demo import DEMO_MIN_IMAGES_PER_CLASS, run_demo

    if args.images_per_class < DEMO_MIN_IMAGES_PER_CLASS:
        raise UserError(f"--images-per-class {args.images_per_class} is too few for a train "
                        f"split of one batch; use {DEMO_MIN_IMAGES_PER_CLASS} or more")
    return run_demo(data=args.data or os.environ.get("CXR_DATA"), epochs=args.epochs,
                    serve=not args.no_serve, host=args.host, port=args.port,
                    images_per_class=args.images_per_class)


def cmd_serve(args: argparse.Namespace) -> int:
    """Hand over to `python -m dashboard.server` (same PID: Ctrl-C and the exit code are the
    server's); the engine never imports the dashboard."""
    from engine.server_process import server_argv

    _use_device(args.device)  # the workers inherit CXR_DEVICE and score on that device
    argv = server_argv(args.host, args.port, args.workers, debug=args.debug,
                       no_auth=args.no_auth, https=args.https)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)
    return 0  # not reached


def _add_train_options(parser: argparse.ArgumentParser, with_arch: bool = True) -> None:
    # Defaults live in TrainConfig (engine/train.py); None here means "not given".
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cxr", description="CXR Lens: train, evaluate and explain chest X-ray classifiers.")
    commands = parser.add_subparsers(dest="command", required=True)

    ingest = commands.add_parser("ingest", help="register a dataset's images")
    ingest.add_argument("data_dir", nargs="?", help="dataset root (default: $CXR_DATA)")
    ingest.add_argument("--name", help="dataset name (default: folder name)")
    ingest.set_defaults(func=cmd_ingest)

    train = commands.add_parser("train", help="train a model, then evaluate it with Grad-CAM")
    _add_train_options(train)
    train.add_argument("--name", help="run name")
    train.add_argument("--nproc", type=int, default=1,
                       help="train with DistributedDataParallel over N local processes "
                            "(gloo on CPU, NCCL on GPU)")
    train.add_argument("--resume", type=int, metavar="RUN_ID",
                       help="continue a failed or interrupted run from its last checkpoint")
    train.set_defaults(func=cmd_train)

    evaluate = commands.add_parser("evaluate", help="evaluate a run with Grad-CAM")
    evaluate.add_argument("run_id", type=int)
    evaluate.add_argument("--split", default="val", choices=["val", "test"])
    evaluate.add_argument("--nproc", type=int, default=1,
                          help="shard the images over N local processes")
    evaluate.add_argument("--device", help=DEVICE_HELP)
    source = evaluate.add_mutually_exclusive_group()
    source.add_argument("--data", help="evaluate on an external dataset folder instead")
    source.add_argument("--shift", metavar="NAME",
                        help="robustness check: evaluate val under an acquisition shift "
                             "(contrast-low, gamma-1.5, blur, noise, jpeg-q20, rotate-8, "
                             "zoom-in, histeq, ...) or `all`")
    source.add_argument("--uploads", action="store_true",
                        help="evaluate on the uploads whose true label an analyst recorded")
    evaluate.set_defaults(func=cmd_evaluate)

    score = commands.add_parser(
        "score", help="score image files (JPEG, PNG, DICOM) with trained runs, with Grad-CAM")
    score.add_argument("files", nargs="+", metavar="FILE")
    which = score.add_mutually_exclusive_group()
    which.add_argument("--run", type=int, action="append", metavar="ID",
                       help="score with this run (repeatable; default: every completed run)")
    which.add_argument("--all", action="store_true",
                       help="score with every completed run (the default)")
    score.add_argument("--json", action="store_true", help="print results as JSON")
    score.add_argument("--device", help=DEVICE_HELP)
    score.add_argument("--force", action="store_true",
                       help="score files that fail the input checks (under 64 px on a side, "
                            "aspect beyond 3:1, DICOM not CR/DX or not chest); the scores are "
                            "stored as forced, with the reason")
    score.set_defaults(func=cmd_score)

    road = commands.add_parser("road", help="ROAD faithfulness of a run's CAMs, on a sample")
    road.add_argument("run_id", type=int)
    road.add_argument("--split", default="val", choices=["val", "test", "external"])
    road.add_argument("--sample", type=int, default=100, help="images to score (default 100)")
    road.add_argument("--seed", type=int, default=0)
    road.add_argument("--device", help=DEVICE_HELP)
    road.set_defaults(func=cmd_road)

    masks = commands.add_parser("check-masks",
                                help="lung-mask sanity check: area across a dataset, outliers")
    masks.add_argument("--data", help="dataset root (default: $CXR_DATA)")
    masks.add_argument("--image-size", type=int, default=224)
    masks.add_argument("--show", type=int, default=30, help="outliers to list")
    masks.set_defaults(func=cmd_check_masks)

    ensemble = commands.add_parser("ensemble", help="combine completed runs into an ensemble run")
    ensemble.add_argument("run_ids", type=int, nargs="+", metavar="RUN")
    ensemble.add_argument("--name")
    ensemble.add_argument("--combine", choices=["prob", "logit"], default="prob",
                          help="average probabilities (default) or logits with a temperature")
    ensemble.add_argument("--threshold-rule", default="youden")
    ensemble.add_argument("--device", help=DEVICE_HELP)
    ensemble.set_defaults(func=cmd_ensemble)
    add_adapt_command(commands, DEVICE_HELP)

    runs = commands.add_parser("runs", help="list runs and their key metrics")
    runs.add_argument("--split", default="test", choices=["val", "test"])
    runs.set_defaults(func=cmd_runs)

    compare = commands.add_parser("compare", help="train and compare the three architectures")
    _add_train_options(compare, with_arch=False)
    compare.add_argument("--archs", nargs="+", default=["resnet18", "resnet34",
                                                        "efficientnet_b0"])
    compare.set_defaults(func=cmd_compare)

    demo = commands.add_parser("demo", help="synthetic data -> two models -> dashboard")
    demo.add_argument("--data", help="use this dataset instead of synthetic data")
    demo.add_argument("--epochs", type=int, default=6)
    demo.add_argument("--images-per-class", type=int, default=200,
                      help="synthetic images drawn per class (default 200)")
    demo.add_argument("--no-serve", action="store_true", help="do not start the dashboard")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8050)
    demo.set_defaults(func=cmd_demo)

    serve = commands.add_parser("serve", help="serve the dashboard (gunicorn)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8050)
    serve.add_argument("--workers", type=int, default=2)
    serve.add_argument("--debug", action="store_true", help="Dash dev server, debug on")
    serve.add_argument("--no-auth", action="store_true",
                       help="sign-in off: a local demo on a loopback address only")
    serve.add_argument("--https", action="store_true",
                       help="served over HTTPS (e.g. behind a TLS proxy): Secure session cookie")
    serve.add_argument("--device", help="where uploads are scored: " + DEVICE_HELP)
    serve.set_defaults(func=cmd_serve)

    from engine.users_cli import add_commands as add_user_commands

    add_user_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from db.migrate import init_db
        from db.session import StorageError

        try:
            init_db()
        except StorageError as exc:
            raise UserError(str(exc)) from exc
        return args.func(args)
    except UserError as exc:
        print(f"cxr: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("cxr: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
