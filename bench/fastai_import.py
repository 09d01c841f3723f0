"""A model of another framework, imported: fastai's recipe against our engine on the same split.

The seed project's stack (fastai `vision_learner(resnet18, pretrained=False)` +
`fit_one_cycle`) is trained on the train subset of the patient split our run uses, its
P(pneumonia) for the val and test images is written as a predictions CSV, and
`cxr import-predictions --split-of OUR_RUN` makes it an external run. The table printed is what
the Compare page shows for the pair: each run's metrics, and B - A with paired 95% bootstrap
intervals. Needs the `bench` extra (fastai). Figures: docs/results.md#models-trained-elsewhere.

    nice -n 10 .venv/bin/python bench/fastai_import.py --per-class 200 --size 96 --epochs 2
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import REPO, data_root


def copy_subset(destination: Path, per_class: int, seed: int) -> Path:
    rng = random.Random(seed)
    for name in ("NORMAL", "PNEUMONIA"):
        files = sorted((data_root() / name).iterdir())
        rng.shuffle(files)
        (destination / name).mkdir(parents=True, exist_ok=True)
        for path in files[:per_class]:
            shutil.copy2(path, destination / name / path.name)
    return destination


def cxr(*args: str) -> str:
    """One `cxr` command in this checkout (the environment carries CXR_HOME)."""
    result = subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=REPO, text=True,
                            capture_output=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    if result.returncode:
        raise SystemExit(f"cxr {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def train_fastai(train: list, predict: list, size: int, epochs: int, batch: int) -> np.ndarray:
    """fastai's recipe on `train` [(path, label)]; P(PNEUMONIA) for each path of `predict`."""
    import torchvision.models as tv_models
    from fastai.vision.all import (
        CategoryBlock,
        DataBlock,
        ImageBlock,
        RandomSplitter,
        Resize,
        aug_transforms,
        vision_learner,
    )

    labels = {str(path): ("PNEUMONIA" if label else "NORMAL") for path, label in train}
    block = DataBlock(blocks=(ImageBlock, CategoryBlock), get_items=lambda _: list(labels),
                      get_y=lambda path: labels[str(path)],
                      splitter=RandomSplitter(valid_pct=0.1, seed=0), item_tfms=Resize(size),
                      batch_tfms=aug_transforms(do_flip=False, max_rotate=7.0))
    loaders = block.dataloaders(None, bs=batch, num_workers=0)
    learner = vision_learner(loaders, tv_models.resnet18, pretrained=False)
    with learner.no_bar(), learner.no_logging():
        learner.fit_one_cycle(epochs, 1e-3)
        probabilities, _ = learner.get_preds(dl=loaders.test_dl([str(p) for p in predict]))
    return probabilities[:, list(loaders.vocab).index("PNEUMONIA")].numpy()


def comparison(run_a: int, run_b: int) -> None:
    from db import evaluations, runs
    from engine.evaluation import stats

    a, b = runs.get_run(run_a), runs.get_run(run_b)
    print(f"A: run {a.id} {a.name} ({a.arch}), threshold {a.threshold:.3f} ({a.threshold_rule})")
    print(f"B: run {b.id} {b.name} ({b.arch}), threshold {b.threshold:.3f} ({b.threshold_rule})")
    for split in ("val", "test"):
        pairs = evaluations.paired_predictions(evaluations.evaluation_id_for(run_a, split),
                                               evaluations.evaluation_id_for(run_b, split))
        labels = pairs.true_label.to_numpy()
        right_a = (pairs.probability_a.to_numpy() >= a.threshold) == labels
        right_b = (pairs.probability_b.to_numpy() >= b.threshold) == labels
        flips = f"A right B wrong {int((right_a & ~right_b).sum())}"
        print(f"\n{split}: {len(pairs)} paired images; {flips}"
              f", A wrong B right {int((~right_a & right_b).sum())}")
        print(f"{'metric':<12}{'A':>8}{'B':>8}{'B - A':>8}  95% CI (paired bootstrap)")
        for delta in stats.bootstrap_deltas(labels, pairs.probability_a.to_numpy(), a.threshold,
                                            pairs.probability_b.to_numpy(), b.threshold):
            print(f"{delta.metric:<12}{delta.value_a:>8.3f}{delta.value_b:>8.3f}{delta.delta:>+8.3f}"
                  f"  [{delta.low:+.3f}, {delta.high:+.3f}]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=200)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--keep", metavar="DIR", help="keep the store and CSV in DIR")
    args = parser.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="cxr-fastai-import-"))
    os.environ["CXR_HOME"] = str(work / "home")
    os.environ.pop("CXR_DATABASE_URL", None)
    data = copy_subset(work / "data", args.per_class, seed=0)
    start = time.perf_counter()
    cxr("train", "--arch", "resnet18", "--data", str(data), "--epochs", str(args.epochs),
        "--image-size", str(args.size), "--batch-size", str(args.batch), "--name",
        "ours-resnet18")
    ours_seconds = time.perf_counter() - start

    from db import runs, splits

    ours = runs.run_summaries()[0]
    train = [(Path(i.path), i.label) for i in splits.split_images(ours.split_id, "train")]
    scored = [i for subset in ("val", "test") for i in splits.split_images(ours.split_id, subset)]
    start = time.perf_counter()
    probability = train_fastai(train, [Path(i.path) for i in scored], args.size, args.epochs,
                               args.batch)
    fastai_seconds = time.perf_counter() - start
    predictions = work / "fastai_predictions.csv"
    with predictions.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "probability"])
        for image, value in zip(scored, probability, strict=True):
            writer.writerow([Path(image.path).relative_to(data).as_posix(), f"{value:.6f}"])
    print(cxr("import-predictions", str(predictions), "--name", "fastai-resnet18",
              "--data", str(data), "--split-of", str(ours.id)))
    print(f"{len(train)} train images, {args.size} px, {args.epochs} epochs; training took "
          f"{ours_seconds:.0f} s (ours, with evaluation and Grad-CAM) and {fastai_seconds:.0f} s "
          "(fastai, with prediction)")
    comparison(ours.id, runs.run_summaries()[0].id)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
