"""`cxr runs`, and the tables of runs and evaluations every command prints (read through db/).

The db/ readers are imported where they are used: `cxr score` loads none of them."""

from __future__ import annotations

import argparse
import math

from engine.cli.options import Command


def origin_labels(run_ids: list[int]) -> list[str]:
    """"adapted from N on SITE (transductive)" for adapted runs, "" for the others."""
    from db.shift import run_origins

    origins = run_origins([int(run_id) for run_id in run_ids])
    return [origins[int(run_id)].label if int(run_id) in origins else "" for run_id in run_ids]


def _fmt(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def print_run_summary(run_ids: list[int] | None, split: str = "test") -> None:
    from db.run_table import runs_table

    table = runs_table(run_ids)
    if table.empty:
        print("no runs yet: try `cxr demo`, or `cxr train --arch resnet18 --data DIR`")
        return
    from db.registry import aliases_by_run

    held = aliases_by_run()
    table = table.assign(origin=origin_labels(table.run_id.tolist()),
                         alias=[",".join(held.get(int(run_id), ())) for run_id in table.run_id])
    columns = ["run_id", "name", "alias", "arch", "status", "health", "origin", "image_size",
               "epochs", "duration_s"]
    for metric in ("accuracy", "roc_auc", "f1", "sensitivity", "specificity", "ece"):
        columns.append(f"val_{metric}")
    if split == "test":
        columns += [f"test_{m}" for m in ("accuracy", "roc_auc", "f1", "sensitivity",
                                          "specificity", "ece")]
    shown = table[columns].map(_fmt)
    print(shown.to_string(index=False))
    failed = table[table.status == "failed"]
    for _, row in failed.iterrows():
        print(f"run {row.run_id} failed: {row.failure_reason}")
    for _, row in table[table.health_warning.notna()].iterrows():
        print(f"run {row.run_id} warning: {row.health_warning}")


def print_evaluation(evaluation_id: int) -> None:
    from db.evaluations import evaluation_metrics

    metrics = evaluation_metrics(evaluation_id)
    print(f"evaluation {evaluation_id}:")
    print(metrics.drop(columns=["id", "evaluation_id"]).map(_fmt).to_string(index=False))


def print_shift_table(run_id: int, evaluation_ids: list[int]) -> None:
    """Robustness table: val metrics at the run's threshold, clean and under each shift."""
    from db.robustness import shift_table

    table = shift_table(run_id, evaluation_ids)
    print(f"run {run_id}: val under acquisition shifts (at the run's operating threshold)")
    print(table.map(_fmt).to_string(index=False))


def print_external_side_by_side(run_ids: list[int]) -> None:
    """Val and external evaluations of each run: AUC, specificity, outside share, drift."""
    from db.shift import external_evaluations

    origins = dict(zip(run_ids, origin_labels(run_ids), strict=True))
    for run_id in run_ids:
        table = external_evaluations(run_id)
        print(f"run {run_id} {origins[run_id]}".rstrip() + ": val beside external data")
        columns = ["evaluation_id", "split", "dataset", "n_images", "auc", "accuracy",
                   "specificity", "sensitivity", "ece", "outside_share", "drift_psi", "drift_ks"]
        print(table[columns].map(_fmt).to_string(index=False))


def runs_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--split", default="test", choices=["val", "test"])


def cmd_runs(args: argparse.Namespace) -> int:
    print_run_summary(None, split=args.split)
    return 0


COMMANDS = {
    "runs": Command("list runs and their key metrics", runs_arguments, cmd_runs),
}
