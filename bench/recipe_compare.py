"""Recipes and generalisation levers, judged by what transfers to other hospitals.

    python bench/recipe_compare.py [--variants best best-without-levers] [--seeds 0 1 2]
        [--epochs N] [--image-size PX] [--per-class N] [--home /tmp/cxr-recipe]
        [--shifts SHIFT ...] [--ensemble] [--summary-only]

Per variant and seed: train on the shared data (our own patient-level split), evaluate val
under every acquisition shift (`--shift all`, including crop-0.7, jpeg-q50, downscale-*), and
evaluate the NIH ChestX-ray8 sample (external/nih_cxr8, evaluation only: never trained or tuned
on). Prints, median [min-max] over seeds: the own test split, the NIH AUC, the specificity on
NORMAL val images under the shifts (median and worst shift), the wall time per seed, and how
three threshold rules chosen on val (edge of the Youden tie, its middle, sensitivity 0.97) hold
up under the shifts. Own-split accuracy does not separate recipes (both score 0.975-0.977).
The ranking levers: `--variants best best-20-epochs best-160px best-resnet34`, and
`--variants best-5-epochs --seeds 0 1 --ensemble` for a 2-seed logit ensemble of half-length runs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import REPO, data_root  # noqa: E402
from engine import settings
from engine.evaluation.perturbations import SHIFTS

NIH = Path(settings.CXR_NIH.get() or REPO.parent / "shared" / "data" / "external" / "nih_cxr8")
NO_LEVERS = ["--crop-scale-min", "1", "--shear-degrees", "0", "--jpeg-share", "0",
             "--acquisition", "0"]
VARIANTS = {
    "best": ["--recipe", "best"],  # with the crop and acquisition levers
    "best-without-levers": ["--recipe", "best", *NO_LEVERS],  # `best` without them
    "best-mixup": ["--recipe", "best", "--mixup-alpha", "0.2"],
    "best-centre-crop": ["--recipe", "best", "--test-center-crop", "0.9"],
    "reference": ["--recipe", "reference"],
    # The ranking levers: more epochs, larger films, resnet34 at the same budget (twice
    # resnet18's compute per image, half the epochs), and the members of a 2-seed logit
    # ensemble at half the epochs each (`--ensemble`). Their cost: docs/results.md.
    "best-20-epochs": ["--recipe", "best", "--epochs", "20"],
    "best-160px": ["--recipe", "best", "--image-size", "160"],
    "best-resnet34": ["--recipe", "best", "--arch", "resnet34", "--epochs", "5"],
    "best-5-epochs": ["--recipe", "best", "--epochs", "5"],
}
RULES = ("youden", "youden-middle", "sensitivity:0.97")


def cxr(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "engine.cli", *args], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=["best", "best-without-levers"],
                        choices=list(VARIANTS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, help="override the recipes' epochs (a proxy)")
    parser.add_argument("--image-size", type=int, help="override the image size (a proxy)")
    parser.add_argument("--per-class", type=int,
                        help="a proxy: train on this many images per class (symlinked subset)")
    parser.add_argument("--home", default="/tmp/cxr-recipe")
    parser.add_argument("--shifts", nargs="+", metavar="SHIFT", choices=list(SHIFTS),
                        help="check and summarise only these shifts (default: every one)")
    parser.add_argument("--ensemble", action="store_true",
                        help="also combine each variant's seeds into one logit ensemble and "
                             "check the ensemble (its members are not checked one by one)")
    parser.add_argument("--summary-only", action="store_true",
                        help="train nothing: print the summary of what the home holds")
    args = parser.parse_args()
    os.environ["CXR_HOME"] = args.home
    os.environ.setdefault("CXR_NO_PROGRESS", "1")
    if not args.summary_only:
        train_and_check(args)
    summarize(args.variants, args.seeds, args.ensemble, args.shifts)


def _names(variants: list[str], seeds: list[int]) -> list[str]:
    return [f"{variant}-seed{seed}" for variant in variants for seed in seeds]


def _ensemble_name(variant: str, seeds: list[int]) -> str:
    return f"ens-{variant}-seed{'+'.join(map(str, seeds))}"


def train_and_check(args: argparse.Namespace) -> None:
    from db.migrate import init_db
    from db.run_table import runs_table

    data = str(data_root().parent if data_root().name == "train" else data_root())
    if args.per_class:
        data = str(_subset(Path(args.home) / f"subset-{args.per_class}", args.per_class))
    init_db()
    table = runs_table()
    done = set(table.name[table.status == "completed"]) if not table.empty else set()
    proxy = ([*(["--epochs", str(args.epochs)] if args.epochs else []),
              *(["--image-size", str(args.image_size)] if args.image_size else [])])
    for variant in args.variants:
        members = []
        for seed in args.seeds:
            name = f"{variant}-seed{seed}"
            if name not in done:
                cxr("train", *VARIANTS[variant], *proxy, "--data", data, "--seed", str(seed),
                    "--name", name)
            members.append(int(runs_table().query("name == @name").run_id.max()))
            if not args.ensemble:
                _check(members[-1], args.shifts)
        if args.ensemble:
            name = _ensemble_name(variant, args.seeds)
            if name not in done:
                cxr("ensemble", *map(str, members), "--combine", "logit", "--name", name)
            _check(int(runs_table().query("name == @name").run_id.max()), args.shifts)


def _check(run_id: int, shifts: list[str] | None = None) -> None:
    """The shift checks and the NIH evaluation, each only where the run lacks it (an
    interrupted compare resumes where it stopped)."""
    from db.robustness import shift_table
    from db.shift import external_evaluations

    checked = set(shift_table(run_id).get("shift", []))
    for shift in shifts or SHIFTS:
        if shift not in checked:
            cxr("evaluate", str(run_id), "--shift", shift)
    external = external_evaluations(run_id)
    if NIH.is_dir() and not (external.split == "external").any():
        cxr("evaluate", str(run_id), "--data", str(NIH))


def _subset(folder: Path, per_class: int) -> Path:
    """A fixed random subset of the training folder, as symlinks (patients kept whole by the
    split as usual; the same files every time)."""
    import random

    for name in ("NORMAL", "PNEUMONIA"):
        target = folder / name
        if target.is_dir():
            continue
        target.mkdir(parents=True)
        files = sorted((data_root() / name).iterdir())
        random.Random(0).shuffle(files)
        for path in files[:per_class]:
            (target / path.name).symlink_to(path)
    return folder


def _median_range(values) -> str:  # noqa: ANN001
    values = [float(v) for v in values if v is not None and not np.isnan(v)]
    if not values:
        return "-"
    median = float(np.median(values))
    return (f"{median:.3f} [{min(values):.3f}-{max(values):.3f}]" if len(values) > 1
            else f"{median:.3f}")


def _rule_rows(run_id: int, shifts: list[str] | None = None
               ) -> dict[str, tuple[float, float, float]]:
    """Per rule: (median specificity, worst specificity, median sensitivity) over the shifts,
    at the threshold that rule picks on the run's clean val scores."""
    from db.robustness import shift_table
    from db.shift import evaluation_scores, latest_val_evaluation
    from engine.evaluation.thresholds import choose_threshold

    val = evaluation_scores(latest_val_evaluation(run_id))
    table = shift_table(run_id)
    table = table[table["shift"].isin(shifts)] if shifts else table[table["shift"] != "none"]
    shifted = [evaluation_scores(int(e)) for e in table.evaluation_id]
    result = {}
    for rule in RULES:
        threshold, _ = choose_threshold(rule, val.true_label.to_numpy(),
                                        val.probability.to_numpy())
        spec = [float((s.probability[s.true_label == 0] < threshold).mean()) for s in shifted]
        sens = [float((s.probability[s.true_label == 1] >= threshold).mean()) for s in shifted]
        result[rule] = (float(np.median(spec)), float(np.min(spec)), float(np.median(sens)))
    return result


def summarize(variants: list[str], seeds: list[int], ensemble: bool = False,
              shifts: list[str] | None = None) -> None:
    from db.migrate import init_db
    from db.robustness import shift_table
    from db.run_table import runs_table
    from db.shift import external_evaluations

    init_db()
    table = runs_table()
    names = _names(variants, seeds)
    # An ensemble's minutes are its members' training plus its own fitting.
    minutes = {_ensemble_name(v, seeds): [f"{v}-seed{s}" for s in seeds] for v in variants}
    table = table[(table.status == "completed")
                  & table.name.isin(names + (list(minutes) if ensemble else []))]
    table = table.sort_values("run_id").groupby("name").tail(1)
    durations = dict(zip(table.name, table.duration_s, strict=True))
    table = table.assign(duration_s=[
        durations[name] + sum(durations.get(m, 0.0) for m in minutes.get(name, []))
        for name in table.name])
    if ensemble:
        variants = [*variants, *(f"ens-{v}" for v in variants)]
    print(f"\nmedian [min-max] over seeds {seeds}; metrics at each run's stored threshold")
    header = ("variant", "n", "own acc", "own spec", "own AUC", "own ECE", "NIH AUC",
              "shift spec med", "shift spec worst", "worst shift", "min/seed")
    print(" | ".join(header))
    for variant in variants:
        runs = table[table.name.str.startswith(f"{variant}-seed")]
        nih, spec_median, spec_worst, worst_names = [], [], [], []
        for run_id in runs.run_id:
            external = external_evaluations(int(run_id))
            nih += list(external[external.split == "external"].auc.head(1))
            checked = shift_table(int(run_id))
            checked = (checked[checked["shift"].isin(shifts)] if shifts
                       else checked[checked["shift"] != "none"])
            if not checked.empty:
                spec_median.append(float(checked.specificity.median()))
                spec_worst.append(float(checked.specificity.min()))
                worst_names.append(str(checked.loc[checked.specificity.idxmin(), "shift"]))
        cells = [variant, str(len(runs)), *(_median_range(runs[c]) for c in (
            "test_accuracy", "test_specificity", "test_roc_auc", "test_ece")),
            _median_range(nih), _median_range(spec_median), _median_range(spec_worst),
            ",".join(worst_names) or "-", _median_range(runs.duration_s / 60)]
        print(" | ".join(cells))
    print("\nthreshold rules under the shifts (specificity median / worst, sensitivity median)")
    for variant in variants:
        runs = table[table.name.str.startswith(f"{variant}-seed")]
        for run_id, name in zip(runs.run_id, runs.name, strict=True):
            if len(shift_table(int(run_id))) < 2:
                continue  # an ensemble's member, checked only as part of the ensemble
            for rule, (median, worst, sens) in _rule_rows(int(run_id), shifts).items():
                print(f"{name} | {rule} | spec {median:.3f} / {worst:.3f} | sens {sens:.3f}")


if __name__ == "__main__":
    main()
