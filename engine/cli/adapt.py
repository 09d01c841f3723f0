"""`cxr adapt RUN --data NEW_SITE_DIR`: the command's parser and handler
(engine/evaluation/adaptation.py)."""

from __future__ import annotations

import argparse

from engine.cli.options import DEVICE_HELP, Command, whole_number


def adapt_arguments(adapt: argparse.ArgumentParser) -> None:
    adapt.add_argument("run_id", type=int, metavar="RUN")
    adapt.add_argument("--data", required=True, metavar="NEW_SITE_DIR",
                       help="the new site's images (labels, if any, are used only to evaluate)")
    adapt.add_argument("--prior", action="store_true",
                       help="also re-estimate the class prior on the new site (EM); refused where "
                       "over 10%% of its images lie outside the training population")
    adapt.add_argument("--name", help="default: '<run name> adapted on <dataset>'")
    adapt.add_argument("--batch-size", type=whole_number(1), default=64)
    adapt.add_argument("--device", help=DEVICE_HELP)


def cmd_adapt(args: argparse.Namespace) -> int:
    from engine.cli.runs import print_external_side_by_side, print_run_summary
    from engine.evaluation.adaptation import adapt_run

    run_id = adapt_run(args.run_id, args.data, prior=args.prior, name=args.name,
                       batch_size=args.batch_size, device=args.device)
    print_run_summary([args.run_id, run_id])
    print_external_side_by_side([args.run_id, run_id])
    print(f"run {run_id}: adapted from run {args.run_id} on the images it is evaluated on "
          "(transductive)")
    return 0


COMMANDS = {
    "adapt": Command("adapt a run to a new site's unlabelled images (AdaBN; transductive)",
                     adapt_arguments, cmd_adapt),
}
