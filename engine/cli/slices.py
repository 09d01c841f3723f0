"""`cxr slices RUN`: where a run is worst, by image attribute, or where two runs differ."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import sys

from engine.cli.options import Command, whole_number

SPLITS = ("val", "test", "external")


def slices_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id", type=int, metavar="RUN")
    parser.add_argument("--split", default="test", choices=SPLITS)
    parser.add_argument("--compare", type=int, metavar="RUN2",
                        help="the slices where RUN2 differs most from RUN, with the flips")
    parser.add_argument("--min-size", type=int, default=20,
                        help="a slice with fewer images is listed, never a finding (default 20)")
    parser.add_argument("--no-pairs", dest="pairs", action="store_false",
                        help="single attributes only (no pairs of attribute values)")
    parser.add_argument("--top", type=whole_number(0), default=30, metavar="N",
                        help="print at most this many slices (default 30; --csv prints all)")
    parser.add_argument("--seed", type=whole_number(0), default=0,
                        help="bootstrap seed (default 0)")
    parser.add_argument("--csv", action="store_true", help="every slice as CSV on stdout")


def _interval(value: float, low: float, high: float, signed: bool = False) -> str:
    spec = "+.3f" if signed else ".3f"
    return f"{value:{spec}} [{low:{spec}}, {high:{spec}}]"


def _write_csv(rows: list) -> None:
    fields = [field.name for field in dataclasses.fields(rows[0])] if rows else ["key"]
    writer = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(dataclasses.asdict(row) for row in rows)


def _print_unavailable(lines: list[str]) -> None:
    for line in lines:
        print(f"  not sliced: {line}")


def _print_report(report, top: int) -> None:  # noqa: ANN001 - an engine SliceReport
    print(f"run {report.run_id} on {report.split}: {report.size} images, accuracy "
          f"{_interval(report.accuracy, report.low, report.high)} at threshold "
          f"{report.threshold:.3f}")
    print(f"finding: >= {report.min_size} images and the 95% bootstrap interval wholly below "
          f"the whole's accuracy; {len(report.findings)} found")
    for stat in report.slices[:top]:
        mark = "FINDING " if stat.finding else ("small   " if not stat.enough else "        ")
        print(f"  {mark}{stat.label}: n={stat.size}, errors={stat.errors}, accuracy "
              f"{_interval(stat.accuracy, stat.low, stat.high)}, gap {stat.gap:+.3f}")
    if len(report.slices) > top:
        print(f"  ... {len(report.slices) - top} more (--top N, or --csv for all)")
    _print_unavailable(report.unavailable)


def _print_comparison(comparison, top: int) -> None:  # noqa: ANN001 - a SliceComparison
    print(f"run {comparison.run_b} - run {comparison.run_a} on {comparison.split}: "
          f"{comparison.size} paired images, each run at its own threshold; a slice differs "
          f"when the 95% paired bootstrap interval excludes 0 and McNemar's exact p < 0.05 "
          f"(>= {comparison.min_size} images)")
    for row in comparison.slices[:top]:
        mark = "DIFFERS " if row.differs else ("small   " if not row.enough else "        ")
        print(f"  {mark}{row.label}: n={row.size}, accuracy A {row.accuracy_a:.3f} B "
              f"{row.accuracy_b:.3f}, B-A {_interval(row.delta, row.low, row.high, True)}, "
              f"flips A right/B wrong {row.a_right_b_wrong}, A wrong/B right "
              f"{row.a_wrong_b_right}, p={row.p_value:.3g}")
    if len(comparison.slices) > top:
        print(f"  ... {len(comparison.slices) - top} more (--top N, or --csv for all)")
    _print_unavailable(comparison.unavailable)


def cmd_slices(args: argparse.Namespace) -> int:
    if args.compare is not None:
        from engine.evaluation.slice_compare import compare_run_slices

        comparison = compare_run_slices(args.run_id, args.compare, args.split, args.min_size,
                                        args.pairs, seed=args.seed)
        if args.csv:
            _write_csv(comparison.slices)
        else:
            _print_comparison(comparison, args.top)
        return 0
    from engine.evaluation.slices import run_slices

    report = run_slices(args.run_id, args.split, min_size=args.min_size, pairs=args.pairs,
                        seed=args.seed)
    if args.csv:
        _write_csv(report.slices)
    else:
        _print_report(report, args.top)
    return 0


COMMANDS = {
    "slices": Command("per-subgroup accuracy with bootstrap intervals: where a run is worst",
                      slices_arguments, cmd_slices),
}
