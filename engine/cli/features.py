"""`cxr map` and `cxr lookalikes`: what a run sees, from the command line.

`cxr map RUN` prints an evaluation's feature map (how it was projected, its size) and writes
its points to a CSV; `cxr lookalikes RUN IMAGE` lists an evaluated image's nearest training
images in the run's feature space. Neither computes: both read what evaluation stored."""

from __future__ import annotations

import argparse
import json

from engine.cli.options import Command
from engine.errors import UserError

SPLITS = ("val", "test", "external", "val-shift")


def _evaluation(run_id: int, split: str) -> int:
    from db import evaluations, runs
    from engine.evaluation import advice

    run = runs.get_run(run_id)  # a UserError naming the run when it does not exist
    evaluation_id = evaluations.evaluation_id_for(run_id, split)
    if evaluation_id is None:
        how = {"external": "--data DIR", "val-shift": "--shift NAME"}.get(split, f"--split {split}")
        raise UserError(advice.no_features(run) or advice.missing_evaluation(run, split, how))
    return evaluation_id


def map_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id", type=int, metavar="RUN")
    parser.add_argument("--split", default="test", choices=SPLITS,
                        help="the evaluation to map (default test)")
    parser.add_argument("--csv", metavar="FILE",
                        help="write every point (image id, x, y, P, true label, subtype, "
                             "outside flag, review verdict) to this CSV file")


def cmd_map(args: argparse.Namespace) -> int:
    from db import feature_map, runs
    from db.files import atomic_write, export_path
    from engine.evaluation import advice

    target = export_path(args.csv, "--csv") if args.csv else None
    evaluation_id = _evaluation(args.run_id, args.split)
    info = feature_map.feature_map(evaluation_id)
    if info is None:
        raise UserError(f"evaluation {evaluation_id} has no feature map: "
                        + advice.missing_map(runs.get_run(args.run_id), args.split))
    print(f"run {args.run_id} {args.split} (evaluation {evaluation_id}): {info.n_images} images, "
          f"{info.dims} features each, projected by {info.method} in {info.seconds:.2f} s")
    if target is not None:
        frame = feature_map.map_frame(evaluation_id)
        try:
            atomic_write(target, frame.to_csv(index=False).encode(), mode=0o600)  # patient data
        except OSError as exc:
            raise UserError(f"cannot write {target}: {exc.strerror}; choose another --csv FILE") \
                from exc
        print(f"{len(frame)} points written to {args.csv}")
    return 0


def lookalikes_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id", type=int, metavar="RUN")
    parser.add_argument("image_id", type=int, metavar="IMAGE",
                        help="an image id the run evaluated (the Errors page shows it)")
    parser.add_argument("-k", type=int, default=8, help="how many (default 8, at most 100)")
    parser.add_argument("--json", action="store_true", help="print them as JSON")


def cmd_lookalikes(args: argparse.Namespace) -> int:
    from db import feature_map, runs
    from engine.evaluation import advice
    from engine.inference.lookalikes import lookalikes_of_image

    if not 1 <= args.k <= 100:
        raise UserError(f"-k {args.k} is out of range; give 1 to 100")
    run = runs.get_run(args.run_id)
    if advice.no_features(run):
        raise UserError(advice.no_features(run))
    evaluation_id = feature_map.evaluation_with_image(args.run_id, args.image_id)
    if evaluation_id is None:
        raise UserError(f"image {args.image_id} is on no feature map of run {args.run_id}: "
                        f"evaluate the run on its split (`cxr evaluate {args.run_id}`), or "
                        "pick an image id the Errors page lists")
    found = lookalikes_of_image(args.run_id, evaluation_id, args.image_id, args.k)
    if found is None:
        raise UserError(advice.missing_lookalikes(run))
    if args.json:
        print(json.dumps({"run_id": args.run_id, "image_id": args.image_id,
                          "lookalikes": [item.as_dict() for item in found]}, indent=2))
        return 0
    print(f"training images nearest to image {args.image_id} in run {args.run_id}'s features:")
    for item in found:
        verdict = "right" if item.correct else "WRONG"
        print(f"  image {item.image_id:<7} {item.label_name:<9} distance {item.distance:8.4f}  "
              f"P(pneumonia)={item.probability:.3f}  run got it {verdict}")
    return 0


COMMANDS = {
    "map": Command("an evaluation's feature map: its projection, its points as CSV",
                   map_arguments, cmd_map),
    "lookalikes": Command("the training images nearest to an evaluated image in a run's "
                          "feature space", lookalikes_arguments, cmd_lookalikes),
}
