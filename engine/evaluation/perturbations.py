"""Acquisition shifts for robustness checks (`cxr evaluate RUN --shift NAME`).

Each shift maps a (H, W) uint8 film to another, deterministically (seeded), standing in for the
scanners, exposures and post-processing a model has not seen. Val under a shift is stored as its
own evaluation, so models can be chosen by how they hold up, not by val accuracy alone.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import cv2
import numpy as np
import torch
from PIL import Image


def _contrast(gray: np.ndarray, factor: float) -> np.ndarray:
    mean = gray.mean()
    return np.clip((gray.astype(np.float32) - mean) * factor + mean, 0, 255).astype(np.uint8)


def _gamma(gray: np.ndarray, gamma: float) -> np.ndarray:
    return np.clip(255.0 * (gray / 255.0) ** gamma, 0, 255).astype(np.uint8)


def _blur(gray: np.ndarray, sigma_at_224: float) -> np.ndarray:
    sigma = sigma_at_224 * gray.shape[0] / 224
    return cv2.GaussianBlur(gray, (0, 0), sigmaX=sigma)


def _noise(gray: np.ndarray, std: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noisy = gray.astype(np.float32) + rng.normal(0, std, gray.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def _jpeg(gray: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(gray).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as image:
        return np.asarray(image.convert("L"), dtype=np.uint8)


def _rotate(gray: np.ndarray, degrees: float) -> np.ndarray:
    height, width = gray.shape
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    return cv2.warpAffine(gray, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)


def _zoom(gray: np.ndarray, keep: float) -> np.ndarray:
    """Centre crop to `keep` of each side (zoom in) or pad (zoom out, keep > 1), then resize."""
    height, width = gray.shape
    if keep < 1:
        dy, dx = int(height * (1 - keep) / 2), int(width * (1 - keep) / 2)
        cropped = gray[dy:height - dy, dx:width - dx]
    else:
        pad = int(height * (keep - 1) / 2)
        cropped = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_CONSTANT,
                                     value=int(gray.min()))
    return cv2.resize(cropped, (width, height), interpolation=cv2.INTER_AREA)


def _offset_crop(gray: np.ndarray, fraction: float) -> np.ndarray:
    """An off-centre crop: the film shifted down-right by `fraction`, then resized back."""
    height, width = gray.shape
    dy, dx = int(height * fraction), int(width * fraction)
    return cv2.resize(gray[dy:, dx:], (width, height), interpolation=cv2.INTER_AREA)


def _downscale(gray: np.ndarray, factor: float) -> np.ndarray:
    """A lower-resolution original: shrink to `factor` of the side, then back up."""
    height, width = gray.shape
    small = cv2.resize(gray, (max(1, int(width * factor)), max(1, int(height * factor))),
                       interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def _marker(gray: np.ndarray, seed: int) -> np.ndarray:
    """A radiographer's laterality marker: a bright "R" or "L" (seeded), 6% of the film's height,
    in a seeded corner. Our films carry an "R" of that size, mostly upper left; a model that takes
    the marker, or its place, as evidence changes its answer here, one that only looks there
    does not.
    """
    rng = np.random.default_rng(seed)
    letter, corner = "RL"[int(rng.integers(2))], int(rng.integers(4))
    height, width = gray.shape
    thickness = max(1, round(height / 96))
    scale = cv2.getFontScaleFromHeight(cv2.FONT_HERSHEY_SIMPLEX, max(4, round(height * 0.06)),
                                       thickness)
    (text_w, text_h), _ = cv2.getTextSize(letter, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    margin = max(1, round(height * 0.04))
    x = margin if corner in (0, 2) else width - margin - text_w
    y = margin + text_h if corner in (0, 1) else height - margin
    marked = gray.copy()
    cv2.putText(marked, letter, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, 255, thickness,
                cv2.LINE_AA)
    return marked


SHIFTS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "contrast-low": lambda g, s: _contrast(g, 0.7),
    "contrast-high": lambda g, s: _contrast(g, 1.3),
    "gamma-0.7": lambda g, s: _gamma(g, 0.7),
    "gamma-1.5": lambda g, s: _gamma(g, 1.5),
    "blur": lambda g, s: _blur(g, 1.5),
    "noise": lambda g, s: _noise(g, 10.0, s),
    "jpeg-q20": lambda g, s: _jpeg(g, 20),
    "rotate-8": lambda g, s: _rotate(g, 8.0),
    "zoom-in": lambda g, s: _zoom(g, 0.85),
    "zoom-out": lambda g, s: _zoom(g, 1.15),
    "crop-offset": lambda g, s: _offset_crop(g, 0.08),
    "histeq": lambda g, s: cv2.equalizeHist(g),
    # Other hospitals frame, compress and resize their films otherwise than our train.
    "crop-0.7": lambda g, s: _zoom(g, 0.7),
    "jpeg-q50": lambda g, s: _jpeg(g, 50),
    "downscale-0.5": lambda g, s: _downscale(g, 0.5),
    "downscale-0.3": lambda g, s: _downscale(g, 0.3),
    # Is a corner's laterality marker evidence to the model, or only where its CAM looks?
    "marker": _marker,
}


Films = np.ndarray | torch.Tensor


def apply_shift(name: str, grays: Films, seed: int = 0,
                seeds: Sequence[int] | None = None) -> Films:
    """Apply shift `name` to every image of an (N, H, W) batch of films (values 0-255), the
    i-th seeded by `seeds[i]` where given (an image's own id: the same shift however the images
    are batched), else by `seed + i`.

    The shifts are OpenCV/PIL operations on uint8 films, so the batch makes one round trip
    through host memory; the result comes back as the input came: a tensor on its device (a
    GPU's included), in its dtype; a float array as a float array.
    """
    transform = SHIFTS[name]
    films = grays.detach().cpu().numpy() if isinstance(grays, torch.Tensor) else grays
    films = np.asarray(films)
    if films.dtype != np.uint8:
        films = np.clip(np.rint(films), 0, 255).astype(np.uint8)
    seeds = list(seeds) if seeds is not None else [seed + i for i in range(len(films))]
    shifted = np.stack([transform(gray, int(s)) for gray, s in zip(films, seeds, strict=True)])
    if isinstance(grays, torch.Tensor):
        return torch.from_numpy(shifted).to(device=grays.device, dtype=grays.dtype)
    return shifted.astype(np.asarray(grays).dtype, copy=False)
