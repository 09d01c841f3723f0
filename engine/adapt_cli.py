"""`cxr adapt RUN --data NEW_SITE_DIR`: the command's parser and handler
(engine/evaluation/adaptation.py)."""

from __future__ import annotations

import argparse


def add_adapt_command(commands: argparse._SubParsersAction, device_help: str) -> None:
    adapt = commands.add_parser(
        "adapt", help="adapt a run to a new site's unlabelled images (AdaBN; transductive)")
    adapt.add_argument("run_id", type=int, metavar="RUN")
    adapt.add_argument("--data", required=True, metavar="NEW_SITE_DIR",
                       help="the new site's images (labels, if any, are used only to evaluate)")
    adapt.add_argument("--prior", action="store_true",
                       help="also re-estimate the class prior on the new site (EM); refused where "
                       "over 10%% of its images lie outside the training population")
    adapt.add_argument("--name", help="default: '<run name> adapted on <dataset>'")
    adapt.add_argument("--batch-size", type=int, default=64)
    adapt.add_argument("--device", help=device_help)
    adapt.set_defaults(func=cmd_adapt)


def cmd_adapt(args: argparse.Namespace) -> int:
    from engine.evaluation.adaptation import adapt_run
    from engine.queries_cli import print_external_side_by_side, print_run_summary

    run_id = adapt_run(args.run_id, args.data, prior=args.prior, name=args.name,
                       batch_size=args.batch_size, device=args.device)
    print_run_summary([args.run_id, run_id])
    print_external_side_by_side([args.run_id, run_id])
    print(f"run {run_id}: adapted from run {args.run_id} on the images it is evaluated on "
          "(transductive)")
    return 0
