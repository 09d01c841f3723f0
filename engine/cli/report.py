"""`cxr report RUN [RUN ...] -o FILE.html`: the report to share, one self-contained HTML file."""

from __future__ import annotations

import argparse

from engine.cli.options import Command, whole_number


def report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_ids", type=int, nargs="+", metavar="RUN",
                        help="run ids (`cxr runs`); with several, each is compared with the first")
    parser.add_argument("-o", "--output", required=True, metavar="FILE.html",
                        help="where to write the report (it embeds patients' images)")
    parser.add_argument("--split", default="test", choices=["test", "val"],
                        help="the evaluation to report on (default test)")
    parser.add_argument("--errors", type=whole_number(0, 50), default=6, metavar="N",
                        help="worst false negatives, then false positives, shown per run "
                             "(default 6 each)")


def cmd_report(args: argparse.Namespace) -> int:
    from db.audit import cli_actor
    from engine.report.build import write_report

    path = write_report(args.run_ids, args.output, cli_actor(), args.split, args.errors)
    size = path.stat().st_size
    print(f"wrote {path} ({size / 2**20:.1f} MiB): {len(set(args.run_ids))} run(s) on "
          f"{args.split}; it embeds patients' images: share it only with people allowed to "
          "see them")
    return 0


COMMANDS = {
    "report": Command("write one self-contained HTML report of runs, to share offline",
                      report_arguments, cmd_report),
}
