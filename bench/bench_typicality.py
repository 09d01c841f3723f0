"""Typicality and input checks: the share of images flagged on our val, on NIH, on non-chest.

    python bench/bench_typicality.py [--run ID] [--arch resnet18] [--size 128] [--epochs 3]
                                     [--per-class 500] [--nih DIR]

Without --run, trains a run in a temporary CXR_HOME on a real subset of the training folder
(`--per-class` images of each class; its own patient-level val split), which fits the
typicality stats at the end of training. Then reports:
1. the share of our own val flagged (about 1% by construction: the threshold is val's 99th
   percentile), from the run's val evaluation;
2. the share flagged on the adult NIH set (../shared/data/external/nih_cxr8, 999 images; only
   evaluated, never trained or tuned on), through `evaluate_run --data`;
3. non-chest images: pydicom's bundled test files that decode, noise, rendered shapes and
   synthetic "photographs" made with PIL, each through the input checks and, if it passes them,
   scored by the run; the share flagged or refused must be at least 90%;
4. the overhead of the typicality check on evaluation's forward + Grad-CAM pass.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import REPO, machine, sample_files  # noqa: E402

NIH = REPO.parent / "shared" / "data" / "external" / "nih_cxr8"


def _subset(folder: Path, per_class: int) -> Path:
    counts = [0, 0]
    for path, label in sample_files(10_000, seed=2):
        if counts[label] >= per_class:
            continue
        target = folder / ("NORMAL", "PNEUMONIA")[label]
        target.mkdir(parents=True, exist_ok=True)
        (target / path.name).symlink_to(path)
        counts[label] += 1
    return folder


def _photo(rng: np.random.Generator, size: int = 512) -> Image.Image:
    """A synthetic outdoor 'photograph': sky gradient, ground, sun, blurred blobs, noise."""
    y = np.linspace(0, 1, size)[:, None, None]
    sky = np.array([90, 150, 235]) * (1 - y) + np.array([200, 220, 255]) * y
    image = np.broadcast_to(sky, (size, size, 3)).copy()
    horizon = int(size * rng.uniform(0.45, 0.7))
    image[horizon:] = np.array(rng.integers(40, 140, 3))
    picture = Image.fromarray(image.astype(np.uint8))
    draw = ImageDraw.Draw(picture)
    for _ in range(int(rng.integers(4, 12))):
        x0, y0 = rng.integers(0, size, 2)
        radius = int(rng.integers(10, size // 5))
        draw.ellipse([x0 - radius, y0 - radius, x0 + radius, y0 + radius],
                     fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    draw.ellipse([size * 0.75, size * 0.08, size * 0.88, size * 0.21], fill=(255, 240, 160))
    picture = picture.filter(ImageFilter.GaussianBlur(2))
    noisy = np.asarray(picture, dtype=np.float64) + rng.normal(0, 6, (size, size, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def _shapes(rng: np.random.Generator, size: int = 384) -> Image.Image:
    picture = Image.new("L", (size, size), int(rng.integers(0, 255)))
    draw = ImageDraw.Draw(picture)
    for _ in range(int(rng.integers(3, 9))):
        x0, y0, x1, y1 = sorted(rng.integers(0, size, 2)) + sorted(rng.integers(0, size, 2))
        box = [min(x0, x1), min(y0, y1), max(x0, x1) + 8, max(y0, y1) + 8]
        shade = int(rng.integers(0, 255))
        [draw.rectangle, draw.ellipse][int(rng.integers(0, 2))](box, fill=shade)
    draw.text((size // 8, size // 2), "CXR LENS", fill=255)
    return picture


def non_chest_images(seed: int = 0) -> list[tuple[str, bytes]]:
    """(name, file bytes): pydicom's test files, then noise, shapes and photographs as PNG."""
    import io

    from pydicom.data import get_testdata_files

    files = [(f"pydicom:{Path(path).name}", Path(path).read_bytes())
             for path in sorted(get_testdata_files("*.dcm"))]
    rng = np.random.default_rng(seed)
    made: list[tuple[str, Image.Image]] = []
    for index in range(6):
        made.append((f"uniform-noise-{index}",
                     Image.fromarray(rng.integers(0, 256, (384, 384), dtype=np.uint8))))
        gaussian = np.clip(rng.normal(128, 40, (384, 384)), 0, 255).astype(np.uint8)
        made.append((f"gaussian-noise-{index}", Image.fromarray(gaussian)))
        made.append((f"shapes-{index}", _shapes(rng)))
        made.append((f"photo-{index}", _photo(rng)))
    for name, picture in made:
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG")
        files.append((f"{name}.png", buffer.getvalue()))
    return files


def _train(arch: str, size: int, epochs: int, per_class: int, folder: Path) -> int:
    from engine.training.train import TrainConfig, main

    data = _subset(folder / "data", per_class)
    return main(TrainConfig(arch=arch, data=str(data), epochs=epochs, image_size=size,
                            batch_size=32, name=f"typicality-{arch}-{size}px"))


def _non_chest(run_id: int) -> tuple[int, int, int, int, list[str]]:
    """(images, refused, flagged, decode failures, names neither refused nor flagged)."""
    from engine.data.decode import DecodeError, decode_image
    from engine.data.input_checks import input_problems
    from engine.inference.scoring import get_scorer

    scorer = get_scorer(run_id)
    refused = flagged = undecodable = 0
    missed = []
    for name, data in non_chest_images():
        try:
            image = decode_image(data, name)
        except DecodeError:
            undecodable += 1  # not counted: only files that decode are in the test set
            continue
        if input_problems(image):
            refused += 1
        elif scorer.score(image.gray).outside_population:
            flagged += 1
        else:
            missed.append(name)
    total = refused + flagged + len(missed)
    return total, refused, flagged, undecodable, missed


def _overhead(run_id: int, batches: int = 8, batch_size: int = 32) -> tuple[float, float]:
    """Seconds per image of evaluation's pass with and without the typicality check."""
    from db import runs
    from db.splits import split_images
    from engine.data.pixels import load_store
    from engine.inference.predictor import ModelPredictor

    run = runs.get_run(run_id)
    images = split_images(run.split_id, "val")[:batch_size]
    store, _ = load_store([image.path for image in images], int(run.config["image_size"]))
    timings = []
    for variant in (run, dataclasses.replace(run, typicality_path=None)):
        predictor = ModelPredictor(variant)
        predictor.explain_full(store)  # warm-up
        start = time.perf_counter()
        for _ in range(batches):
            predictor.explain_full(store)
        timings.append((time.perf_counter() - start) / (batches * len(store)))
        predictor.close()
    return timings[0], timings[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=int, help="use this run of $CXR_HOME instead of training")
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--per-class", type=int, default=500)
    parser.add_argument("--nih", default=str(NIH))
    args = parser.parse_args()
    os.environ.setdefault("CXR_NO_PROGRESS", "1")
    with tempfile.TemporaryDirectory() as folder:
        if args.run is None:
            os.environ["CXR_HOME"] = str(Path(folder) / "home")
            os.environ.pop("CXR_DATABASE_URL", None)
        from db.migrate import init_db

        init_db()
        start = time.perf_counter()
        run_id = args.run or _train(args.arch, args.size, args.epochs, args.per_class,
                                    Path(folder))
        print(f"machine: {machine()}")
        print(f"run {run_id} ready in {time.perf_counter() - start:.0f} s")
        _report(run_id, args.nih)


def _share(evaluation_id: int) -> tuple[float, int]:
    from db.evaluations import outside_share

    found = outside_share(evaluation_id)
    return found.share, found.n_images


def _report(run_id: int, nih: str) -> None:
    from db import evaluations
    from engine.evaluation.evaluate import evaluate_run

    for split in ("val", "test"):
        evaluation_id = evaluations.evaluation_id_for(run_id, split)
        if evaluation_id:
            share, count = _share(evaluation_id)
            print(f"our {split}: {share:.1%} flagged of {count} images (threshold: val's 99th "
                  "percentile)")
    if Path(nih).is_dir():
        start = time.perf_counter()
        share, count = _share(evaluate_run(run_id, data_dir=nih))
        print(f"NIH ChestX-ray8 (adult, external): {share:.1%} flagged of {count} images "
              f"({time.perf_counter() - start:.0f} s)")
    total, refused, flagged, undecodable, missed = _non_chest(run_id)
    print(f"non-chest: {total} images that decode ({undecodable} more did not): {refused} "
          f"refused by the input checks, {flagged} flagged by typicality -> "
          f"{(refused + flagged) / total:.1%} refused or flagged (goal >= 90%)")
    if missed:
        print(f"  neither refused nor flagged: {', '.join(missed)}")
    with_check, without = _overhead(run_id)
    print(f"overhead: {with_check * 1000:.2f} ms/image with the check vs {without * 1000:.2f} "
          f"without, forward + Grad-CAM ({(with_check / without - 1):+.1%})")


if __name__ == "__main__":
    main()
