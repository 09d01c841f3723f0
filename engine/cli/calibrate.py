"""`cxr calibrate RUN --data SITE_SAMPLE`: the command's parser and handler
(engine/evaluation/site_calibration.py)."""

from __future__ import annotations

import argparse

from engine.cli.options import DEVICE_HELP, Command, whole_number


def calibrate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id", type=int, metavar="RUN")
    parser.add_argument("--data", required=True, metavar="SITE_SAMPLE",
                        help="a small labelled sample of the new site (NORMAL/ and PNEUMONIA/; "
                             "at least 20 of each)")
    parser.add_argument("--threshold-rule",
                        help="how to choose the threshold on the sample: youden, youden-middle, "
                             "sensitivity:0.95 or fixed:0.5 (default: the run's rule, with "
                             "youden-middle for a youden run)")
    parser.add_argument("--method", default="offset+temperature",
                        help="what to refit on the sample: offset+temperature (default), "
                             "offset, threshold (the threshold only) or prior (the class "
                             "balance only, the run's threshold kept)")
    parser.add_argument("--evaluate", metavar="DIR",
                        help="also evaluate the new run on the rest of the site's images")
    parser.add_argument("--name", help="default: '<run name> calibrated on <site>'")
    parser.add_argument("--batch-size", type=whole_number(1), default=64)
    parser.add_argument("--device", help=DEVICE_HELP)


def _interval(name: str, rate) -> str:  # noqa: ANN001 - a site_fit.RateInterval
    return f"{name} {rate.value:.3f} ({rate.low:.3f}-{rate.high:.3f})"


def cmd_calibrate(args: argparse.Namespace) -> int:
    from engine.cli.runs import print_external_side_by_side, print_run_summary
    from engine.evaluation.site_calibration import CONFIDENCE, calibrate_run

    report = calibrate_run(args.run_id, args.data, threshold_rule=args.threshold_rule,
                           method=args.method, evaluate_dir=args.evaluate, name=args.name,
                           batch_size=args.batch_size, device=args.device)
    print_run_summary([report.source_run_id, report.run_id])
    print_external_side_by_side([report.run_id])
    fit, before, after = report.fit, report.before, report.after
    print(f"run {report.run_id}: run {report.source_run_id} calibrated on {report.site} "
          f"(refitted: {fit.kept}; temperature {fit.calibration.temperature:.3f}, offset "
          f"{fit.calibration.offset:.3f}; threshold {fit.threshold:.3f} by {fit.rule})")
    print(f"on the sample, run {report.source_run_id}'s operating point: sensitivity "
          f"{before.sensitivity:.3f}, specificity {before.specificity:.3f}, ECE "
          f"{before.ece:.3f}")
    rates = (_interval("sensitivity", report.sensitivity),
             _interval("specificity", report.specificity))
    print(f"on the sample, the new operating point (in-sample): {rates[0]}, {rates[1]}, ECE "
          f"{after.ece:.3f} ({CONFIDENCE:.0%} bootstrap intervals)")
    if report.warning:
        print(f"warning: {report.warning}")
    return 0


COMMANDS = {
    "calibrate": Command("refit a run's calibration and threshold on a new site's small "
                         "labelled sample", calibrate_arguments, cmd_calibrate),
}
