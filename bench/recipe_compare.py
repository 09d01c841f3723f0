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
    args = parser.parse_args()
    os.environ["CXR_HOME"] = args.home
    os.environ.setdefault("CXR_NO_PROGRESS", "1")
    data = str(data_root().parent if data_root().name == "train" else data_root())
    from db.migrate import init_db
    from db.queries import runs_table

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


if __name__ == "__main__":
    main()
