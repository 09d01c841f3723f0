"""Slices: what `cxr slices` finds on a real run, and what the Errors page's Slices table costs.

    python bench/bench_slices.py [--home DIR --run ID [--compare ID2]] [--split test]
                                 [--epochs 3] [--repeat 20]

Without --run, trains two small CNNs (64 px, seeds 0 and 1) on the whole training folder
(CXR_DATA, else ../shared/data/chest_xray) in a temporary store; with --home and --run it reads
runs already there. Prints:
1. the findings (slices of at least 20 images whose 95% bootstrap interval lies below the whole)
   and, with --compare, the slices where the two runs differ;
2. per-query times (median and worst of --repeat): the slices of one evaluation, single
   attributes and with pairs, against the Errors page's threshold recompute measured in the same
   run (reading the evaluation's labels and probabilities uncached, then the metrics at the
   threshold), as a ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import machine  # noqa: E402
from bench.fill_dashboard_db import use_store  # noqa: E402


def _times(function, repeat: int) -> list[float]:  # noqa: ANN001 - a callable of no argument
    found = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        found.append((time.perf_counter() - start) * 1000)
    return found


def _baseline(run_id: int, split: str) -> None:
    from db import evaluations, runs
    from engine.evaluation.metrics import binary_metrics

    evaluation_id = evaluations.evaluation_id_for(run_id, split)
    scored = evaluations.evaluation_rows(evaluation_id)  # uncached, as on a first view
    binary_metrics(scored.true_label, scored.probability, runs.get_run(run_id).threshold)


def _print_findings(run_id: int, compare: int | None, split: str) -> None:
    from engine.evaluation.slice_compare import compare_run_slices
    from engine.evaluation.slices import run_slices

    report = run_slices(run_id, split)
    print(f"run {run_id} on {split}: {report.size} images, accuracy {report.accuracy:.3f} "
          f"[{report.low:.3f}, {report.high:.3f}]; {len(report.findings)} findings "
          f"of {sum(s.enough for s in report.slices)} slices with >= {report.min_size} images")
    for stat in report.findings:
        print(f"  {stat.label}: n={stat.size}, accuracy {stat.accuracy:.3f} "
              f"[{stat.low:.3f}, {stat.high:.3f}], gap {stat.gap:+.3f}")
    for line in report.unavailable:
        print(f"  not sliced: {line}")
    if compare is None:
        return
    comparison = compare_run_slices(run_id, compare, split)
    differing = [row for row in comparison.slices if row.differs]
    print(f"run {compare} - run {run_id}: {len(differing)} slices differ")
    for row in differing:
        print(f"  {row.label}: n={row.size}, B-A {row.delta:+.3f} [{row.low:+.3f}, "
              f"{row.high:+.3f}], flips {row.a_right_b_wrong} / {row.a_wrong_b_right}")


def _train_two_runs(epochs: int) -> tuple[int, int]:
    from bench.common import data_root
    from engine.training.train import TrainConfig
    from engine.training.train import main as train

    return tuple(train(TrainConfig(arch="small_cnn", data=str(data_root()), epochs=epochs,
                                   image_size=64, batch_size=64, seed=seed,
                                   name=f"slices-seed{seed}")) for seed in (0, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", help="a store holding --run (default: train two runs in a "
                                       "temporary one)")
    parser.add_argument("--run", type=int)
    parser.add_argument("--compare", type=int)
    parser.add_argument("--split", default="test")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        use_store(Path(args.home or Path(folder) / "home"))
        from db.migrate import init_db
        from engine.evaluation.slices import run_slices

        init_db()
        if args.run is None:
            args.run, args.compare = _train_two_runs(args.epochs)
        print(machine())
        _print_findings(args.run, args.compare, args.split)
        _print_times(run_slices, args)


def _print_times(run_slices, args: argparse.Namespace) -> None:  # noqa: ANN001
    baseline = _times(lambda: _baseline(args.run, args.split), args.repeat)
    single = _times(lambda: run_slices(args.run, args.split, pairs=False), args.repeat)
    paired = _times(lambda: run_slices(args.run, args.split), args.repeat)
    base = statistics.median(baseline)
    for name, values in (("threshold recompute (baseline)", baseline),
                         ("slices, single attributes", single), ("slices, with pairs", paired)):
        print(f"{name}: median {statistics.median(values):.1f} ms, worst {max(values):.1f} ms, "
              f"{statistics.median(values) / base:.1f}x the baseline")


if __name__ == "__main__":
    main()
