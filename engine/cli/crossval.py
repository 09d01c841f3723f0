"""`cxr crossval` (out-of-fold probabilities, engine/training/crossval.py) and
`cxr label-issues RUN` (cleanlab's suspected label errors, read through db/label_issues.py)."""

from __future__ import annotations

import argparse
import csv
import sys

from engine.cli.options import Command, add_train_options, data_arg
from engine.errors import UserError

DEFAULT_FOLDS = 5


def crossval_arguments(parser: argparse.ArgumentParser) -> None:
    add_train_options(parser)
    parser.add_argument("--folds", type=int, default=DEFAULT_FOLDS,
                        help=f"patient-level folds of the train split (default {DEFAULT_FOLDS})")
    parser.add_argument("--name", help="run name (default: 'crossval K-fold ARCH-SIZEpx')")


def cmd_crossval(args: argparse.Namespace) -> int:
    from db.label_issues import label_queue
    from engine.cli.train import train_config
    from engine.training.crossval import crossval

    if args.folds < 2:
        raise UserError(f"--folds {args.folds}: cross-validation needs at least 2 folds")
    run_id = crossval(train_config(args, data_arg(args.data)), args.folds)
    queue = label_queue(run_id, limit=0)
    print(f"run {run_id}: {queue.ranked} training images ranked by cleanlab, {queue.flagged} "
          f"suspected label errors; list them with `cxr label-issues {run_id}`")
    return 0


def label_issues_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id", type=int, metavar="RUN", help="a run made by cxr crossval")
    parser.add_argument("--top", type=int, default=20, help="how many to list (default 20)")
    parser.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    parser.add_argument("--all-ranked", action="store_true",
                        help="list the top of the whole ranking, flagged or not")


COLUMNS = ("rank", "image_id", "given_label", "oof_probability", "label_quality", "fold",
           "suspected", "path")


def cmd_label_issues(args: argparse.Namespace) -> int:
    from db.label_issues import is_crossval, label_queue
    from db.models import LABEL_NAMES
    from db.runs import get_run

    if args.top < 1:
        raise UserError(f"--top {args.top}: list at least 1 image")
    run = get_run(args.run_id)
    queue = label_queue(run.id, limit=args.top, only_suspected=not args.all_ranked)
    if not queue.ranked:
        why = (f"it is {run.status}" if is_crossval(run.id)
               else "it was not made by cxr crossval")
        raise UserError(f"run {run.id} has no label ranking: {why}. Rank the training labels "
                        "with `cxr crossval --data DIR --folds K`, then pass that run")
    rows = [(item.rank, item.image_id, LABEL_NAMES[item.given_label], f"{item.probability:.4f}",
             f"{item.label_quality:.4f}", item.fold + 1, "yes" if item.suspected else "no",
             item.rel_path) for item in queue.items]
    if args.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows)
        return 0
    print(f"run {run.id}: {queue.flagged} of {queue.ranked} training images flagged as suspected "
          f"label errors, {queue.reviewed} already reviewed on this run")
    if not rows:
        print("nothing left to review")
        return 0
    lines = [COLUMNS, *rows]
    widths = [max(len(str(line[column])) for line in lines) for column in range(len(COLUMNS))]
    for line in lines:
        print("  ".join(str(value).ljust(width)
                        for value, width in zip(line, widths, strict=True)).rstrip())
    return 0


COMMANDS = {
    "crossval": Command("train K fold models; store out-of-fold probabilities and cleanlab's "
                        "ranking of suspected label errors", crossval_arguments, cmd_crossval),
    "label-issues": Command("list a crossval run's suspected label errors, not yet reviewed",
                            label_issues_arguments, cmd_label_issues),
}
