"""Recipe against the plain CyclicLR resnet18 baseline, on the shared data, with shift checks.

    python bench/recipe_compare.py [--seeds 0 1 2] [--epochs 10] [--home /tmp/cxr-recipe]

Trains `--recipe best` and the reference (Adam + triangular CyclicLR, same image size and
epochs) per seed, evaluates val under every acquisition shift, and prints the test metrics
(our own patient-level split of the training data) and the shift table of each run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import data_root  # noqa: E402


def cxr(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "engine.cli", *args], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--home", default="/tmp/cxr-recipe")
    parser.add_argument("--skip-trained", action="store_true",
                        help="don't train a name the home already holds as a completed run")
    parser.add_argument("--summary-only", action="store_true",
                        help="train nothing: print the seed summary of what the home holds")
    args = parser.parse_args()
    if args.summary_only:
        os.environ["CXR_HOME"] = args.home
        summarize(args.seeds)
        return
    os.environ["CXR_HOME"] = args.home
    os.environ.setdefault("CXR_NO_PROGRESS", "1")
    data = str(data_root().parent if data_root().name == "train" else data_root())
    from db.migrate import init_db
    from db.run_table import runs_table

    init_db()
    table = runs_table()
    done = (set(table.name[table.status == "completed"])
            if args.skip_trained and not table.empty else set())
    names = []
    for seed in args.seeds:
        common = ["--data", data, "--seed", str(seed), "--epochs", str(args.epochs)]
        for name, recipe in ((f"recipe-best-seed{seed}", ["--recipe", "best"]),
                             (f"reference-cyclic-seed{seed}",
                              ["--recipe", "reference", "--image-size", "128"])):
            names.append(name)
            if name not in done:
                cxr("train", *recipe, *common, "--name", name)
    table = runs_table()
    # Only this invocation's runs (the newest completed one of each name; a home may hold other
    # seeds), and only those without shift checks yet.
    table = table[table.name.isin(names) & (table.status == "completed")]
    from db.robustness import shift_table

    for run_id in sorted(table.groupby("name").run_id.max()):
        if len(shift_table(int(run_id))) <= 1:  # only clean val so far
            cxr("evaluate", str(run_id), "--shift", "all")
    cxr("runs")
    summarize(args.seeds)


KINDS = (("recipe best", "recipe-best-seed"), ("reference CyclicLR", "reference-cyclic-seed"))
TEST_COLUMNS = (("accuracy", "test_accuracy"), ("sensitivity", "test_sensitivity"),
                ("specificity", "test_specificity"), ("F1", "test_f1"), ("AUC", "test_roc_auc"),
                ("ECE before", "test_ece_uncalibrated"), ("ECE after", "test_ece"),
                ("minutes", "duration_s"))


def _median_range(values) -> str:  # noqa: ANN001
    values = [float(v) for v in values if v is not None]
    if not values:
        return "-"
    median = float(np.median(values))
    return (f"{median:.3f} [{min(values):.3f}-{max(values):.3f}]" if len(values) > 1
            else f"{median:.3f}")


def summarize(seeds: list[int]) -> None:
    """Median [range] over seeds of the test metrics, and of the shift checks on val."""
    from db.migrate import init_db
    from db.robustness import shift_table
    from db.run_table import runs_table

    init_db()
    table = runs_table()
    table = table[table.status == "completed"]
    shifts = {}
    print(f"\nown patient-level test split, median [min-max] over seeds {seeds} "
          "(metrics at each run's Youden threshold on val):")
    print(f"{'':<26}" + "".join(f"{name:>22}" for name, _ in TEST_COLUMNS))
    for kind, prefix in KINDS:
        runs = table[table.name.isin([f"{prefix}{seed}" for seed in seeds])]
        runs = runs.sort_values("run_id").groupby("name").tail(1)  # newest of each name
        runs = runs.assign(duration_s=runs.duration_s / 60)
        print(f"{kind + f' (n={len(runs)})':<26}"
              + "".join(f"{_median_range(runs[column]):>22}" for _, column in TEST_COLUMNS))
        frames = [shift_table(int(run_id)) for run_id in runs.run_id]
        frames = [frame for frame in frames if len(frame) > 1]
        if frames:
            shifts[kind] = pd.concat(frames).groupby("shift")[["specificity", "sensitivity",
                                                              "accuracy", "auc"]]
    if shifts:
        print("\nval under acquisition shifts, median over seeds [min-max]:")
        names = list(next(iter(shifts.values())).groups)
        print(f"{'shift':<14}" + "".join(f"{kind + ' ' + metric:>34}" for kind in shifts
                                         for metric in ("specificity", "accuracy")))
        for name in ["none"] + sorted(n for n in names if n != "none"):
            cells = []
            for grouped in shifts.values():
                group = grouped.get_group(name) if name in grouped.groups else None
                for metric in ("specificity", "accuracy"):
                    cells.append(_median_range(group[metric]) if group is not None else "-")
            print(f"{name:<14}" + "".join(f"{cell:>34}" for cell in cells))


if __name__ == "__main__":
    main()
