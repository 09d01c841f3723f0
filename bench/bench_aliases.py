"""Aliases: what answering with the production run costs and saves, and false confidence gone.

    python bench/bench_aliases.py [--arch small_cnn] [--size 64] [--runs 3] [--uploads 20]

Trains `--runs` runs (seeds 0, 1, ...; a few epochs on a small real subset) in a temporary
CXR_HOME, promotes the first to `production` (with force when a check refuses it: only its
speed and its typicality matter here), then:
1. scores `--uploads` real images one upload at a time (decode, score with Grad-CAM, store), with
   the production run alone (the new default) and with every run (the old default, now
   `--all`); the ratio is per upload, both measured in this run;
2. scores the non-chest images of bench/bench_typicality.py (noise, shapes, synthetic
   photographs, pydicom's test files) that pass the input checks, and counts those given a
   NORMAL/PNEUMONIA verdict before (every score had a label) and now (only assessable ones);
3. counts the Runs table's columns shown by default and those before the first metric.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.bench_typicality import _subset, non_chest_images  # noqa: E402
from bench.common import machine, sample_files  # noqa: E402


def _train(args: argparse.Namespace, folder: Path) -> list[int]:
    from engine.training.train import TrainConfig, main

    data = _subset(folder / "data", 60)
    return [main(TrainConfig(arch=args.arch, data=str(data), epochs=3, image_size=args.size,
                             batch_size=16, seed=seed, name=f"alias-bench-{seed}"))
            for seed in range(args.runs)]


def _per_upload_ms(images: list[bytes], every_run: bool) -> float:
    from engine.inference.uploads import score_upload_bytes, scoring_run_ids

    run_ids = scoring_run_ids(None, every_run=every_run)
    score_upload_bytes(images[0], "warm.jpeg", run_ids)  # models loaded before timing
    start = time.perf_counter()
    for index, data in enumerate(images[1:]):
        score_upload_bytes(data, f"upload-{index}.jpeg", run_ids)
    return (time.perf_counter() - start) * 1000 / (len(images) - 1)


def _verdicts() -> tuple[int, int, int]:
    """(non-chest images scored, given a verdict before, given a verdict now)."""
    from engine.data.decode import DecodeError, decode_image
    from engine.data.input_checks import input_problems
    from engine.inference.uploads import score_upload_bytes

    scored = before = now = 0
    for name, data in non_chest_images():
        try:
            if input_problems(decode_image(data, name)):
                continue  # refused before scoring: no verdict either way
        except DecodeError:
            continue
        score = score_upload_bytes(data, name).scores[0]  # the production run's
        scored, before, now = scored + 1, before + 1, now + int(score.assessable)
    return scored, before, now


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="small_cnn")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--uploads", type=int, default=20)
    args = parser.parse_args()
    os.environ.setdefault("CXR_NO_PROGRESS", "1")
    with tempfile.TemporaryDirectory(prefix="cxr-alias-bench-") as folder:
        os.environ["CXR_HOME"] = str(Path(folder) / "home")
        os.environ.pop("CXR_DATABASE_URL", None)
        from db.audit import Actor
        from db.migrate import init_db
        from db.registry import PromotionRefused, promote

        init_db()
        run_ids = _train(args, Path(folder))
        try:
            promote(run_ids[0], "production", Actor("bench"))
        except PromotionRefused as exc:
            print(f"(forced: {exc})")
            promote(run_ids[0], "production", Actor("bench"), force=True)
        images = [path.read_bytes() for path, _ in sample_files(args.uploads + 1, seed=11)]
        alone, every = _per_upload_ms(images, False), _per_upload_ms(images, True)
        scored, before, now = _verdicts()
    from dashboard.runs_table import METRIC_LABELS, SPLITS, default_visible, table_columns

    columns = [column["id"] for column in table_columns("test")]
    metrics = {f"{split}_{metric}" for split in SPLITS for metric in METRIC_LABELS}
    first_metric = next(index for index, key in enumerate(columns) if key in metrics)
    print(machine())
    print(f"{args.arch} {args.size} px, {args.runs} runs, {args.uploads} real uploads")
    print(f"per upload: production alone {alone:.1f} ms, every run {every:.1f} ms "
          f"({every / alone:.2f}x)")
    print(f"non-chest images scored: {scored}; given a NORMAL/PNEUMONIA verdict before "
          f"{before}/{scored}, now {now}/{scored}")
    print(f"Runs table: {len(default_visible('test'))} of {len(columns)} columns shown by "
          f"default; {first_metric} columns before the first metric")


if __name__ == "__main__":
    main()
