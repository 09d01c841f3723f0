"""Label-noise injection: does `cxr crossval` + cleanlab find labels we flipped on purpose?

Copies a random, class-proportional subset of the real training split to a temporary folder,
moves a known share of the copied files (default 5%) to the other class's folder, runs
`cxr crossval` on the copy in a fresh store, and reads the whole ranking back with
`cxr label-issues RUN --all-ranked --csv`. Only the split's train subset is ranked, so the truth
is the flipped files that landed there, and k is their number. Prints precision and recall of
the top k (equal when k is the number of flips), the same for cleanlab's flagged set, and the
baseline a random ranking gets (the flip share), with the wall time, then the top 20 of the
labels left as they were (the dataset's own labels: no ground truth). The shared data is never
written to.

    python bench/label_noise.py --images 2000 --folds 4 --epochs 6
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO, data_root, machine  # noqa: E402

CLASSES = ("NORMAL", "PNEUMONIA")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000, help="images copied (all classes)")
    parser.add_argument("--flip-share", type=float, default=0.05)
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", help="copy and store here instead of a temporary folder")
    return parser.parse_args()


def noisy_copy(destination: Path, n_images: int, flip_share: float, seed: int) -> set[str]:
    """Copy a class-proportional sample and flip a known share; returns the flipped names."""
    rng = random.Random(seed)
    files = [(path, name) for name in CLASSES for path in sorted((data_root() / name).iterdir())]
    sample = rng.sample(files, n_images)
    flipped = {path.name for path, _ in rng.sample(sample, round(flip_share * n_images))}
    for path, name in sample:
        given = CLASSES[1 - CLASSES.index(name)] if path.name in flipped else name
        (destination / given).mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination / given / path.name)
    return flipped


def cxr(args: list[str], home: Path) -> str:
    env = {**os.environ, "CXR_HOME": str(home), "CXR_NO_PROGRESS": "1",
           "PYTHONPATH": str(REPO)}
    env.pop("CXR_DATABASE_URL", None)
    lines = []
    with subprocess.Popen([sys.executable, "-m", "engine.cli", *args], env=env, cwd=REPO,
                          stdout=subprocess.PIPE, text=True,
                          stderr=subprocess.STDOUT if args[0] == "crossval" else None) as proc:
        for line in proc.stdout:
            lines.append(line)
            if args[0] == "crossval":  # progress, on stderr: stdout keeps the figures
                print(line, end="", file=sys.stderr, flush=True)
    if proc.returncode:
        raise SystemExit(f"cxr {' '.join(args)} failed:\n{''.join(lines[-20:])}")
    return "".join(lines)


def measure(folder: Path, args: argparse.Namespace) -> None:
    flipped = noisy_copy(folder / "data", args.images, args.flip_share, args.seed)
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    out = cxr(["crossval", "--data", str(folder / "data"), "--folds", str(args.folds),
               "--arch", args.arch, "--image-size", str(args.image_size),
               "--epochs", str(args.epochs), "--batch-size", "32", "--schedule", "onecycle",
               "--max-lr", "2e-3", "--seed", str(args.seed)], folder / "home")
    wall = time.perf_counter() - start
    run_id = out.strip().splitlines()[-1].split()[1].rstrip(":")
    table = cxr(["label-issues", run_id, "--all-ranked", "--csv", "--top", "1000000"],
                folder / "home")
    rows = list(csv.DictReader(io.StringIO(table)))
    truth = {row["image_id"] for row in rows if Path(row["path"]).name in flipped}
    k = len(truth)
    top = {row["image_id"] for row in rows if int(row["rank"]) <= k}
    flagged = {row["image_id"] for row in rows if row["suspected"] == "yes"}
    hits = len(top & truth)
    print(f"machine: {machine()}; load average (1 min) before crossval {load_before:.2f}, "
          f"after {os.getloadavg()[0]:.2f}")
    print(f"{args.images} images copied, {len(flipped)} flipped ({args.flip_share:.0%}); "
          f"{len(rows)} ranked (the train subset), {k} of them flipped")
    print(f"crossval {args.folds} folds, {args.arch} {args.image_size} px, {args.epochs} "
          f"epochs: wall {wall / 60:.1f} min")
    print(f"top k={k}: precision {hits / max(k, 1):.3f}, recall {hits / max(k, 1):.3f} "
          f"({hits} hits); random ranking: {k / max(len(rows), 1):.3f} "
          f"(lift {hits / max(k, 1) / max(k / max(len(rows), 1), 1e-9):.1f}x)")
    caught = len(flagged & truth)
    print(f"cleanlab flagged {len(flagged)}: precision {caught / max(len(flagged), 1):.3f}, "
          f"recall {caught / max(k, 1):.3f}")
    print("top 20 of the labels we did not flip (the dataset's own labels: no ground truth):")
    for row in [row for row in rows if row["image_id"] not in truth][:20]:
        print(f"  rank {row['rank']}: {row['path']} given {row['given_label']}, out-of-fold "
              f"P(pneumonia) {row['oof_probability']}")


def main() -> None:
    args = parse_args()
    if args.keep:
        folder = Path(args.keep)
        folder.mkdir(parents=True, exist_ok=False)
        measure(folder, args)
        return
    with tempfile.TemporaryDirectory(prefix="cxr-label-noise-") as folder:
        measure(Path(folder), args)


if __name__ == "__main__":
    main()
