"""`cxr ingest`: register a dataset folder's images."""

from __future__ import annotations

import argparse

from engine.cli.options import Command, data_arg

SHOWN_SKIPPED = 20  # skipped files `cxr ingest` names; the Dataset page lists them all


def ingest_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data_dir", nargs="?", help="dataset root (default: $CXR_DATA)")
    parser.add_argument("--name", help="dataset name (default: folder name)")


def cmd_ingest(args: argparse.Namespace) -> int:
    from engine.data.discover import ingest

    report = ingest(data_arg(args.data_dir), name=args.name)
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


COMMANDS = {
    "ingest": Command("register a dataset's images", ingest_arguments, cmd_ingest),
}
