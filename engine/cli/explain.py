"""`cxr road` and `cxr check-masks`: faithfulness of a run's CAMs, plausibility of lung masks."""

from __future__ import annotations

import argparse

from engine.cli.options import DEVICE_HELP, Command, data_arg


def road_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id", type=int)
    parser.add_argument("--split", default="val", choices=["val", "test", "external"])
    parser.add_argument("--sample", type=int, default=100, help="images to score (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", help=DEVICE_HELP)


def check_masks_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", help="dataset root (default: $CXR_DATA)")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--show", type=int, default=30, help="outliers to list")


def cmd_road(args: argparse.Namespace) -> int:
    from engine.explain.road import road_scores

    n, mean = road_scores(args.run_id, args.split, sample=args.sample, seed=args.seed,
                          device=args.device)
    print(f"run {args.run_id} {args.split}: ROAD combined score {mean:.4f} over {n} images "
          "(higher is more faithful)")
    return 0


def cmd_check_masks(args: argparse.Namespace) -> int:
    from engine.explain.lungmask import PLAUSIBLE_AREA, check_dataset_masks

    check = check_dataset_masks(data_arg(args.data), args.image_size)
    low, high = PLAUSIBLE_AREA
    print(f"lung mask area on {check.n_images} images: mean {check.area_mean:.3f}, "
          f"5th-95th percentile {check.area_p05:.3f}-{check.area_p95:.3f}")
    print(f"plausible ({low:.2f}-{high:.2f} of the image): {check.plausible} "
          f"({100 * check.plausible_share:.1f}%)")
    for name, area in check.outliers[: args.show]:
        print(f"  outlier {area:.3f}  {name}")
    if len(check.outliers) > args.show:
        print(f"  ... and {len(check.outliers) - args.show} more")
    return 0


COMMANDS = {
    "road": Command("ROAD faithfulness of a run's CAMs, on a sample", road_arguments, cmd_road),
    "check-masks": Command("lung-mask sanity check: area across a dataset, outliers",
                           check_masks_arguments, cmd_check_masks),
}
