"""Does per-image histogram equalisation amplify JPEG compression texture?

    python bench/bench_histeq_compression.py [--per-class 200] [--size 128]

The official test files are compressed differently from our training files, and the recipe
equalises each image's histogram before the network sees it. Equalisation is a monotone
grey-level map whose slope is steep where many pixels share a grey level, so it could stretch
the small errors that compression leaves there. This bench decodes training images, re-encodes
them as JPEG at several qualities, and takes them down the recipe's path (decode, resize to the
run's size, intensity normalisation). It prints, per normalisation, the compression error the
network would see, in grey levels (the input scaling is the same for every mode): the RMS of
the difference, and of its high-frequency part (a 3x3 Laplacian, which is where 8x8 block
texture lives), as a ratio against no normalisation measured on the same images.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import data_root  # noqa: E402
from engine.data.pixels import normalize_intensity  # noqa: E402

QUALITIES = (30, 50, 75)
MODES = ("none", "equalize", "clahe")


def _prepared(gray: np.ndarray, size: int, mode: str) -> np.ndarray:
    small = cv2.resize(gray, (size, size), interpolation=cv2.INTER_AREA)
    return normalize_intensity(small[None], mode)[0].astype(np.float32)


def _jpeg(gray: np.ndarray, quality: int) -> np.ndarray:
    _, encoded = cv2.imencode(".jpg", gray, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)


def _errors(films: list[np.ndarray], size: int, mode: str, quality: int) -> tuple[float, ...]:
    """RMS of the compression error after the path, overall and its Laplacian, and the same
    two as a share of the clean image's own contrast (its standard deviation) and detail (the
    RMS of its Laplacian)."""
    total, high, contrast, detail = [], [], [], []
    for gray in films:
        clean = _prepared(gray, size, mode)
        difference = _prepared(_jpeg(gray, quality), size, mode) - clean
        total.append(np.mean(difference ** 2))
        high.append(np.mean(cv2.Laplacian(difference, cv2.CV_32F) ** 2))
        contrast.append(np.var(clean))
        detail.append(np.mean(cv2.Laplacian(clean, cv2.CV_32F) ** 2))
    total, high = float(np.sqrt(np.mean(total))), float(np.sqrt(np.mean(high)))
    return (total, high, total / float(np.sqrt(np.mean(contrast))),
            high / float(np.sqrt(np.mean(detail))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=200)
    parser.add_argument("--size", type=int, default=128, help="the run's image size")
    args = parser.parse_args()
    films = []
    for name in ("NORMAL", "PNEUMONIA"):
        files = sorted((data_root() / name).iterdir())
        random.Random(0).shuffle(files)
        for path in files[:args.per_class]:
            gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            if gray is not None:
                films.append(gray)
    print(f"{len(films)} training images, re-encoded as JPEG, then resized to {args.size} px "
          "and normalised; compression error the network sees, RMS in grey levels "
          "(ratio to no normalisation)")
    print("quality | " + " | ".join(f"{mode}: all / high-frequency" for mode in MODES))
    relative = []
    for quality in QUALITIES:
        base = _errors(films, args.size, "none", quality)
        cells, shares = [], []
        for mode in MODES:
            errors = base if mode == "none" else _errors(films, args.size, mode, quality)
            cells.append(f"{errors[0]:.2f} ({errors[0] / base[0]:.2f}x) / {errors[1]:.2f} "
                         f"({errors[1] / base[1]:.2f}x)")
            shares.append(f"{errors[2]:.4f} ({errors[2] / base[2]:.2f}x) / {errors[3]:.4f} "
                          f"({errors[3] / base[3]:.2f}x)")
        print(f"q{quality} | " + " | ".join(cells))
        relative.append(f"q{quality} | " + " | ".join(shares))
    print("\nthe same error as a share of the image's own contrast / detail (the texture "
          "against the anatomy; ratio to no normalisation)")
    print("\n".join(relative))


if __name__ == "__main__":
    main()
