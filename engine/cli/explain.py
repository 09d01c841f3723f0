"""`cxr road`, `cxr attention` and `cxr check-masks`: faithfulness of a run's CAMs, where they
look per confusion cell, plausibility of lung masks."""

from __future__ import annotations

import argparse
import math
import sys

from engine.cli.options import DEVICE_HELP, Command, data_arg, whole_number


def road_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id", type=int)
    parser.add_argument("--split", default="val", choices=["val", "test", "external"])
    parser.add_argument("--sample", type=whole_number(1), default=100,
                        help="images to score (default 100)")
    parser.add_argument("--seed", type=whole_number(0), default=0)
    parser.add_argument("--device", help=DEVICE_HELP)


def attention_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id", type=int)
    parser.add_argument("--split", default="val", choices=["val", "test", "external"],
                        help="the evaluation to read (default val; external: the newest)")
    parser.add_argument("--shift", help="read val under this shift check instead (e.g. marker)")
    parser.add_argument("--per-cell", type=int, default=50,
                        help="images sampled from each confusion cell (default 50)")
    parser.add_argument("--cam-layer", default="last", choices=["last", "fine"],
                        help="last: the stored Grad-CAMs; fine: recomputed one block earlier, "
                             "at twice the resolution")
    parser.add_argument("--road", action="store_true",
                        help="also score each cell's CAMs with ROAD (slower)")
    parser.add_argument("--seed", type=whole_number(0), default=0)
    parser.add_argument("--csv", action="store_true", help="print CSV")
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


def cmd_attention(args: argparse.Namespace) -> int:
    from engine.errors import UserError
    from engine.evaluation.perturbations import SHIFTS
    from engine.explain.cell_attention import cell_attention, verdicts

    if args.shift is not None and args.shift not in SHIFTS:
        raise UserError(f"unknown --shift {args.shift!r}; choose one of {', '.join(SHIFTS)}")
    if args.shift is not None and args.split != "val":
        raise UserError(f"--shift {args.shift} reads val under that shift, so --split "
                        f"{args.split} cannot go with it: drop one of them")
    report = cell_attention(args.run_id, args.split, args.shift, per_cell=args.per_cell,
                            layer=args.cam_layer, road=args.road, seed=args.seed,
                            device=args.device)
    columns = ("cell", "images", "sampled", "border_share", "border_over_half",
               "corner_share", "lung_share", "road")
    if args.csv:
        print(",".join(columns))
    else:
        where = f"val under {args.shift}" if args.shift else args.split
        grid = (f", {report.grid[0]}x{report.grid[1]} grid" if report.grid != (0, 0) else "")
        print(f"run {args.run_id} {where} (evaluation {report.evaluation_id}): "
              f"{report.layer} CAM layer{grid}, up to {args.per_cell} images per cell")
        print("cell  images  sampled  border share  border>0.5  corner share  lung share  ROAD")
    for cell in report.cells:
        values = [cell.border_share, cell.border_over_half, cell.corner_share, cell.lung_share,
                  cell.road]
        text = ["" if v is None or not math.isfinite(v) else f"{v:.3f}" for v in values]
        if args.csv:
            print(",".join([cell.cell, str(cell.images), str(cell.sampled), *text]))
        else:
            text = [value or "-" for value in text]
            print(f"{cell.cell:<5} {cell.images:>6}  {cell.sampled:>7}  {text[0]:>12}  "
                  f"{text[1]:>10}  {text[2]:>12}  {text[3]:>10}  {text[4]:>5}")
    missing = sum(cell.missing for cell in report.cells)
    if missing:
        print(f"note: {missing} sampled images or their stored Grad-CAMs are no longer on disk "
              f"and were left out; evaluate the run again to measure them", file=sys.stderr)
    empty = sum(cell.empty for cell in report.cells)
    if empty:
        print(f"note: {empty} sampled Grad-CAMs are all zeros (they point nowhere: the "
              f"gradient at the CAM layer vanished) and have no border, corner or lung share; "
              f"the shares are over the others", file=sys.stderr)
    if not args.csv:
        for line in verdicts(report):
            print(line)
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
    "attention": Command("where a run's CAMs look, per confusion cell (border, corners, lungs)",
                         attention_arguments, cmd_attention),
    "check-masks": Command("lung-mask sanity check: area across a dataset, outliers",
                           check_masks_arguments, cmd_check_masks),
}
