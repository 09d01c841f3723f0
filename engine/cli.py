"""`cxr`: the command-line tool. The parser is built in a function; each command is small."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from engine import cli_arguments as arguments
from engine.adapt_cli import add_adapt_command
from engine.errors import UserError
from engine.training.recipes import LEVER_OPTIONS

EXIT_USER_ERROR = 2


def _data_arg(value: str | None) -> str:
    data = value or os.environ.get("CXR_DATA")
    if not data:
        raise UserError("no dataset: pass --data DIR or set CXR_DATA")
    return data


SHOWN_SKIPPED = 20  # skipped files `cxr ingest` names; the Dataset page lists them all


def cmd_ingest(args: argparse.Namespace) -> int:
    from engine.data.discover import ingest

    report = ingest(_data_arg(args.data_dir), name=args.name)
    print(f"dataset {report.dataset_id} at {report.root}: {report.total} files, "
          f"{report.added} new, {report.already_known} already registered, "
          f"{sum(report.skipped.values())} skipped")
    for reason, count in report.skipped.most_common():
        print(f"  skipped {count}: {reason}")
    shown = report.skipped_files[:SHOWN_SKIPPED]
    for rel_path, reason in shown:
        print(f"    {rel_path}: {reason}")
    if len(report.skipped_files) > len(shown):
        print(f"    ... and {len(report.skipped_files) - len(shown)} more: the Dataset page "
              f"(cxr serve) lists every skipped file of dataset {report.dataset_id}")
    return 0


# Options that map one-to-one onto TrainConfig fields. Their argparse default is None, so a
# recipe's value stands unless the option is given explicitly.
TRAIN_FIELDS = ("arch", "epochs", "image_size", "batch_size", "seed", "split_seed", "schedule",
                "patience", "pretrained", "weights", "device", "max_lr", "weight_decay",
                "threshold_rule", "tta", "calibrate", "intensity_norm", "ema_decay",
                "label_smoothing", "augment_strength", "channels_last", "precision", "compile",
                "name", *LEVER_OPTIONS)


def _train_config(args: argparse.Namespace, data: str, arch: str | None = None):
    from engine.training.recipes import recipe_settings
    from engine.training.train import TrainConfig

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
    from engine.training.train import TrainConfig, main

    if args.nproc < 1:
        raise UserError("--nproc must be at least 1")
    if args.resume is not None:
        run_id = main(TrainConfig(), resume_run_id=args.resume, nproc=args.nproc)
    else:
        run_id = main(_train_config(args, _data_arg(args.data)), nproc=args.nproc)
    print_run_summary([run_id])
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from engine.evaluation.evaluate import evaluate_run
    from engine.queries_cli import print_evaluation

    dataset_id = None
    if args.uploads:
        from engine.inference.uploads import uploads_dataset

        dataset_id = uploads_dataset()
    if args.shift:
        from engine.evaluation.perturbations import SHIFTS
        from engine.queries_cli import print_shift_table

        names = list(SHIFTS) if args.shift == "all" else [args.shift]
        evaluation_ids = [evaluate_run(args.run_id, shift=name, device=args.device)
                          for name in names]
        print_shift_table(args.run_id, evaluation_ids)
        return 0
    if args.nproc > 1:
        from engine.evaluation.evaluate import evaluate_distributed

        evaluation_id = evaluate_distributed(args.run_id, args.split, args.nproc,
                                             data_dir=args.data, dataset_id=dataset_id,
                                             device=args.device)
    else:
        evaluation_id = evaluate_run(args.run_id, args.split, data_dir=args.data,
                                     dataset_id=dataset_id, device=args.device)
    print_evaluation(evaluation_id)
    return 0


def cmd_ensemble(args: argparse.Namespace) -> int:
    from engine.evaluation.ensembles import create_ensemble
    from engine.queries_cli import print_run_summary

    run_id = create_ensemble(args.run_ids, name=args.name, combine=args.combine,
                             threshold_rule=args.threshold_rule, device=args.device)
    print_run_summary([*args.run_ids, run_id])
    return 0


def _use_device(name: str | None) -> None:
    """Check --device now and hand it to the scorers (and a server's workers) via CXR_DEVICE."""
    if name or os.environ.get("CXR_DEVICE"):
        from engine.training.devices import use_device

        use_device(name)


def cmd_score(args: argparse.Namespace) -> int:
    from engine.score_cli import score_files

    _use_device(args.device)
    return score_files(args.files, run_ids=args.run or None, as_json=args.json,
                       force=args.force)


def cmd_road(args: argparse.Namespace) -> int:
    from engine.explain.road import road_scores

    n, mean = road_scores(args.run_id, args.split, sample=args.sample, seed=args.seed,
                          device=args.device)
    print(f"run {args.run_id} {args.split}: ROAD combined score {mean:.4f} over {n} images "
          "(higher is more faithful)")
    return 0


def cmd_check_masks(args: argparse.Namespace) -> int:
    from engine.data.discover import discover
    from engine.data.pixels import load_store
    from engine.explain.lungmask import PLAUSIBLE_AREA, check_masks

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
    from engine.training.train import main

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


def _add_users_commands(commands: argparse._SubParsersAction) -> None:
    from engine.users_cli import add_commands

    add_commands(commands)


# name, help, arguments (engine/cli_arguments.py), handler; a callable registers its own.
COMMANDS = (
    ("ingest", "register a dataset's images", arguments.ingest, cmd_ingest),
    ("train", "train a model, then evaluate it with Grad-CAM", arguments.train, cmd_train),
    ("evaluate", "evaluate a run with Grad-CAM", arguments.evaluate, cmd_evaluate),
    ("score", "score image files (JPEG, PNG, DICOM) with trained runs, with Grad-CAM",
     arguments.score, cmd_score),
    ("road", "ROAD faithfulness of a run's CAMs, on a sample", arguments.road, cmd_road),
    ("check-masks", "lung-mask sanity check: area across a dataset, outliers",
     arguments.check_masks, cmd_check_masks),
    ("ensemble", "combine completed runs into an ensemble run", arguments.ensemble,
     cmd_ensemble),
    lambda commands: add_adapt_command(commands, arguments.DEVICE_HELP),
    ("runs", "list runs and their key metrics", arguments.runs, cmd_runs),
    ("compare", "train and compare the three architectures", arguments.compare, cmd_compare),
    ("demo", "synthetic data -> two models -> dashboard", arguments.demo, cmd_demo),
    ("serve", "serve the dashboard (gunicorn)", arguments.serve, cmd_serve),
    _add_users_commands,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cxr", description="CXR Lens: train, evaluate and explain chest X-ray classifiers.")
    commands = parser.add_subparsers(dest="command", required=True)
    for entry in COMMANDS:
        if callable(entry):
            entry(commands)
            continue
        name, help_text, add_arguments, handler = entry
        command = commands.add_parser(name, help=help_text)
        add_arguments(command)
        command.set_defaults(func=handler)
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
