"""A small synthetic chest-X-ray-like dataset for the demo and tests.

Procedural images: a bright body, two dark lung fields, ribs, a heart shadow, a side marker, and
in the PNEUMONIA class one or two soft opacities inside a lung, whose true masks are saved beside
the image (`*_mask.png`). The folder carries a SYNTHETIC.txt marker so everything built from it is
labelled synthetic. It is not medical data and says so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from db.models import LABEL_NAMES
from engine.data.discover import SYNTHETIC_MARKER


def _ellipse(yy: np.ndarray, xx: np.ndarray, cy: float, cx: float, ry: float,
             rx: float) -> np.ndarray:
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


def _blur(image: np.ndarray, passes: int = 2) -> np.ndarray:
    for _ in range(passes):
        image = (image + np.roll(image, 1, 0) + np.roll(image, -1, 0)
                 + np.roll(image, 1, 1) + np.roll(image, -1, 1)) / 5.0
    return image


def make_image(rng: np.random.Generator, size: int, pneumonia: bool) -> tuple[
        np.ndarray, np.ndarray]:
    """One image and its lesion mask (all zeros for NORMAL)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    s = size / 128.0
    image = np.full((size, size), 0.08, np.float32)
    image[_ellipse(yy, xx, 70 * s, 64 * s, 62 * s, 52 * s)] = 0.62  # body
    lung_centres = []
    for side in (-1, 1):
        cy = (62 + rng.normal(0, 2)) * s
        cx = (64 + side * (22 + rng.normal(0, 1.5))) * s
        ry, rx = (34 + rng.normal(0, 2)) * s, (15 + rng.normal(0, 1)) * s
        image[_ellipse(yy, xx, cy, cx, ry, rx)] = 0.22
        lung_centres.append((cy, cx, ry, rx))
    image[_ellipse(yy, xx, 80 * s, 58 * s, 14 * s, 12 * s)] = 0.55  # heart, left of midline
    for rib in range(7):  # ribs as faint bright arcs
        y = (36 + rib * 9) * s
        image[np.abs(yy - y - 0.004 * (xx - 64 * s) ** 2 / s) < 1.2 * s] += 0.08
    mask = np.zeros((size, size), bool)
    if pneumonia:
        for _ in range(rng.integers(1, 3)):
            cy, cx, ry, rx = lung_centres[rng.integers(0, 2)]
            ly = cy + rng.uniform(-0.6, 0.6) * ry
            lx = cx + rng.uniform(-0.5, 0.5) * rx
            radius = rng.uniform(6, 11) * s
            blob = _ellipse(yy, xx, ly, lx, radius, radius * rng.uniform(0.7, 1.3))
            mask |= blob
            image[blob] += rng.uniform(0.22, 0.32)
    image[int(8 * s):int(16 * s), int(6 * s):int(12 * s)] = 0.95  # an "R" marker block
    image = _blur(image, 3) + rng.normal(0, 0.03, image.shape)
    image = image * rng.uniform(0.85, 1.15) + rng.uniform(-0.05, 0.05)
    return (np.clip(image, 0, 1) * 255).astype(np.uint8), mask


def generate(root: str | Path, n_per_class: int = 60, size: int = 128, seed: int = 0,
             patients_per_class: int | None = None) -> Path:
    """Write a flat NORMAL/ PNEUMONIA/ dataset with Kaggle-style patient file names."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    patients = patients_per_class or max(n_per_class // 2, 1)
    for label, class_name in enumerate(LABEL_NAMES):
        folder = root / class_name
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(n_per_class):
            patient = index % patients + 1
            image, mask = make_image(rng, size, pneumonia=bool(label))
            if label:
                subtype = "bacteria" if index % 3 else "virus"
                stem = f"person{patient}_{subtype}_{index}"
            else:
                stem = f"IM-{patient:04d}-{index:04d}"
            Image.fromarray(image).save(folder / f"{stem}.png")
            if label:
                Image.fromarray(mask.astype(np.uint8) * 255).save(folder / f"{stem}_mask.png")
    (root / SYNTHETIC_MARKER).write_text(
        "Synthetic demo data made by CXR Lens (engine/data/synthetic.py). Not medical images.\n")
    return root
