"""`cxr import-predictions FILE.csv --name NAME`: a model trained elsewhere becomes a run
(engine/evaluation/imported.py; the file's columns: engine/evaluation/predictions_file.py)."""

from __future__ import annotations

import argparse

from engine.cli.options import Command

FILE_HELP = ("CSV with a header: path (relative to the dataset root) or sha256, probability "
             "(P(pneumonia) in [0, 1]), optional threshold")


def import_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE.csv", help=FILE_HELP)
    parser.add_argument("--name", required=True, help="the imported model's run name")
    parser.add_argument("--data", metavar="DIR",
                        help="the dataset the file's paths are relative to (registered if it is "
                        "not yet); default: --split-of's dataset, or the only one registered")
    parser.add_argument("--split-of", type=int, metavar="RUN",
                        help="evaluate on this run's patient split, so Compare pairs the same "
                        "val and test images (recommended)")
    parser.add_argument("--split-seed", type=int, default=0,
                        help="without --split-of: the dataset's split `cxr train --split-seed N` "
                        "uses (default 0)")
    parser.add_argument("--threshold-rule", default="youden",
                        help="without a threshold column: how to choose it on val (youden, "
                        "youden-middle, sensitivity:0.95, fixed:0.5)")


def cmd_import(args: argparse.Namespace) -> int:
    from engine.cli.runs import print_run_summary
    from engine.evaluation.imported import import_predictions

    report = import_predictions(args.file, args.name, data_dir=args.data,
                                split_of=args.split_of, split_seed=args.split_seed,
                                threshold_rule=args.threshold_rule)
    if report.unknown_summary:
        print(f"warning: {report.unknown_summary}")
    if report.n_train:
        print(f"note: {report.n_train} rows are images of the split's train subset: counted, "
              "not evaluated (runs are compared on val and test)")
    evaluated = ", ".join(f"{split} {count}" for split, count in report.evaluated.items())
    print(f"run {report.run_id}: imported {evaluated} images, threshold {report.threshold:.3f} "
          f"({report.threshold_rule}); external model: no checkpoint, no Grad-CAM")
    print_run_summary([*([args.split_of] if args.split_of else []), report.run_id])
    return 0


COMMANDS = {
    "import-predictions": Command("import a model trained elsewhere from its predictions CSV",
                                  import_arguments, cmd_import),
}
