"""`cxr evaluate` and `cxr ensemble`: evaluate runs, combine them, print the metrics."""

from __future__ import annotations

import argparse

from engine.cli.options import DEVICE_HELP, Command


def evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id", type=int)
    parser.add_argument("--split", default="val", choices=["val", "test"])
    parser.add_argument("--nproc", type=int, default=1,
                        help="shard the images over N local processes")
    parser.add_argument("--device", help=DEVICE_HELP)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data", help="evaluate on an external dataset folder instead")
    source.add_argument("--shift", metavar="NAME",
                        help="robustness check: evaluate val under an acquisition shift "
                             "(contrast-low, gamma-1.5, blur, noise, jpeg-q20, rotate-8, "
                             "zoom-in, histeq, ...) or `all`")
    source.add_argument("--uploads", action="store_true",
                        help="evaluate on the uploads whose true label an analyst recorded")


def ensemble_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_ids", type=int, nargs="+", metavar="RUN")
    parser.add_argument("--name")
    parser.add_argument("--combine", choices=["prob", "logit"], default="prob",
                        help="average probabilities (default) or logits with a temperature")
    parser.add_argument("--threshold-rule", default="youden")
    parser.add_argument("--device", help=DEVICE_HELP)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from engine.cli.runs import print_evaluation
    from engine.evaluation.evaluate import evaluate_run

    dataset_id = None
    if args.uploads:
        from engine.inference.uploads import uploads_dataset

        dataset_id = uploads_dataset()
    if args.shift is not None:
        from engine.cli.runs import print_shift_table
        from engine.errors import UserError
        from engine.evaluation.perturbations import SHIFTS

        if args.shift != "all" and args.shift not in SHIFTS:
            raise UserError(f"unknown --shift {args.shift!r}; choose all or one of "
                            f"{', '.join(SHIFTS)}")
        names = list(SHIFTS) if args.shift == "all" else [args.shift]
        evaluation_ids = [evaluate_run(args.run_id, shift=name, device=args.device)
                          for name in names]
        print_shift_table(args.run_id, evaluation_ids)
        return 0
    if args.nproc > 1:
        from engine.evaluation.evaluate import evaluate_distributed

        evaluation_id = evaluate_distributed(args.run_id, args.split, args.nproc,
                                             data_dir=args.data, dataset_id=dataset_id,
                                             device=args.device)
    else:
        evaluation_id = evaluate_run(args.run_id, args.split, data_dir=args.data,
                                     dataset_id=dataset_id, device=args.device)
    print_evaluation(evaluation_id)
    return 0


def cmd_ensemble(args: argparse.Namespace) -> int:
    from engine.cli.runs import print_run_summary
    from engine.evaluation.ensembles import create_ensemble

    run_id = create_ensemble(args.run_ids, name=args.name, combine=args.combine,
                             threshold_rule=args.threshold_rule, device=args.device)
    print_run_summary([*args.run_ids, run_id])
    return 0


COMMANDS = {
    "evaluate": Command("evaluate a run with Grad-CAM", evaluate_arguments, cmd_evaluate),
    "ensemble": Command("combine completed runs into an ensemble run", ensemble_arguments,
                        cmd_ensemble),
}
