"""Pixels: decode once into a uint8 store, then normalise and augment whole batches.

Training, evaluation and live scoring all go through `load_gray` + `to_input`, so a scored
upload is preprocessed exactly like the images the model was trained and evaluated on.
"""

from __future__ import annotations

import hashlib
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from db.files import atomic_write
from db.session import cxr_home
from engine.data.decode import DecodeError, decode_file, resize
from engine.errors import UserError

# Gray equivalent of torchvision's ImageNet normalisation.
MEAN = 0.449
STD = 0.226


def load_gray(path: str | Path, size: int) -> np.ndarray:
    """One file -> (size, size) uint8. Raises DecodeError for unusable files."""
    return resize(decode_file(path), size)


def array_to_gray(gray: np.ndarray, size: int) -> np.ndarray:
    return resize(gray, size)


def _decode_or_none(args: tuple[str, int]) -> tuple[np.ndarray | None, str | None]:
    path, size = args
    try:
        return load_gray(path, size), None
    except DecodeError as exc:
        return None, str(exc)


def load_store(paths: list[str], size: int, cache: bool = True,
               workers: int = 4) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Decode and resize every path once into an (N, size, size) uint8 array.

    Returns the array and the (index, reason) of files that failed to decode (left black; the
    caller drops them). The array is cached under CXR_HOME/cache keyed by paths, mtimes, size.
    """
    key = hashlib.sha256(str(size).encode())
    for path in paths:
        stat = Path(path).stat() if Path(path).exists() else None
        key.update(f"{path}|{stat.st_mtime_ns if stat else 0}|{stat.st_size if stat else 0}"
                   .encode())
    cache_file = cxr_home() / "cache" / f"pixels-{size}-{key.hexdigest()[:24]}.npy"
    if cache and cache_file.exists():
        return np.load(cache_file), []
    store = np.zeros((len(paths), size, size), dtype=np.uint8)
    failures = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for index, (gray, reason) in enumerate(pool.map(_decode_or_none,
                                                        [(p, size) for p in paths])):
            if gray is None:
                failures.append((index, reason))
            else:
                store[index] = gray
    if cache and not failures:
        try:
            atomic_write(cache_file, lambda out: np.save(out, store))
        except OSError:
            pass  # the cache is an optimisation only
    return store, failures


SHOWN_FAILURES = 3  # unreadable files named in a summary; the rest are counted


def readable(paths: list[str], failures: list[tuple[int, str]], what: str) -> np.ndarray:
    """The mask of `paths` that decoded, after one summary line for those that did not (count
    and the first few); a UserError when none did."""
    keep = np.ones(len(paths), dtype=bool)
    keep[[index for index, _ in failures]] = False
    if not failures:
        return keep
    first = "; ".join(reason if str(paths[index]) in reason else f"{paths[index]}: {reason}"
                      for index, reason in failures[:SHOWN_FAILURES])
    where = ("run `cxr ingest` on the dataset's folder to record what is there (the Dataset "
             "page then lists every skipped file)")
    if not keep.any():
        raise UserError(f"none of the {len(paths)} {what} images could be read (first: "
                        f"{first}); the files may have moved or been deleted: {where}")
    tqdm.write(f"warning: {len(failures)} of the {len(paths)} {what} images could not be read "
               f"and are left out (first {min(len(failures), SHOWN_FAILURES)}: {first}); {where}")
    return keep


INTENSITY_MODES = ("none", "equalize", "clahe")


def normalize_intensity(batch_uint8: np.ndarray, mode: str) -> np.ndarray:
    """Per-image intensity normalisation of an (N, H, W) uint8 batch, part of a run's recipe.

    Applied after decoding and resizing and before `to_input`, in training, evaluation and
    scoring alike (the run's predictor calls it), so every path sees the same pixels.
    """
    if mode == "none" or len(batch_uint8) == 0:
        return batch_uint8
    if mode == "equalize":
        return np.stack([cv2.equalizeHist(np.ascontiguousarray(image)) for image in batch_uint8])
    if mode == "clahe":
        clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))
        return np.stack([clahe.apply(np.ascontiguousarray(image)) for image in batch_uint8])
    raise ValueError(f"unknown intensity normalisation {mode!r}; use one of {INTENSITY_MODES}")


def to_input(batch_uint8: torch.Tensor | np.ndarray) -> torch.Tensor:
    """(N, H, W) uint8 -> (N, 1, H, W) float32, normalised."""
    if isinstance(batch_uint8, np.ndarray):
        batch_uint8 = torch.from_numpy(batch_uint8)
    return ((batch_uint8.float() / 255.0 - MEAN) / STD).unsqueeze(1).contiguous()


def affine(batch: torch.Tensor, angle_degrees: torch.Tensor, scale: torch.Tensor,
           shift_x: torch.Tensor, shift_y: torch.Tensor) -> torch.Tensor:
    """Rotate, zoom and shift each image of a normalised (N, 1, H, W) batch (per-image params).

    Shifts are fractions of the half-width (affine_grid's units); borders are filled with each
    image's darkest value, so shifted-in edges look like film background.
    """
    # theta and the grid live on the batch's device, in its dtype: parameters drawn on the CPU
    # (the seeded generator's home) must not meet a CUDA batch, nor float32 a float64 one.
    angle_degrees, scale, shift_x, shift_y = (
        value.to(device=batch.device, dtype=batch.dtype)
        for value in (angle_degrees, scale, shift_x, shift_y))
    angle = angle_degrees * math.pi / 180
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift_x], 1),
                         torch.stack([sin, cos, shift_y], 1)], 1)
    grid = F.affine_grid(theta, list(batch.shape), align_corners=False)
    background = batch.amin(dim=(1, 2, 3), keepdim=True)
    return F.grid_sample(batch - background, grid, align_corners=False) + background


def augment(batch: torch.Tensor, generator: torch.Generator, max_degrees: float = 7.0,
            max_translate: float = 0.06, scale_range: tuple[float, float] = (0.92, 1.08),
            brightness: float = 0.15, contrast: float = 0.15) -> torch.Tensor:
    """Chest-X-ray-safe augmentation of a normalised (N, 1, H, W) batch, all at once.

    A small random affine (rotation, shift, zoom) and brightness/contrast jitter. No horizontal
    flip: anatomy is not left-right symmetric (the heart sits on the left).
    """
    n = batch.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        # Drawn on the generator's device (the CPU), so a seed gives the same jitter on any
        # device; moved to the batch's device and dtype in one copy below.
        return torch.rand(n, generator=generator, device=generator.device) * (high - low) + low

    params = torch.stack([uniform(-max_degrees, max_degrees), uniform(*scale_range),
                          uniform(-max_translate, max_translate),
                          uniform(-max_translate, max_translate),
                          uniform(1 - contrast, 1 + contrast),
                          uniform(-brightness, brightness) / STD])
    angle, scale, shift_x, shift_y, gain, shift = params.to(device=batch.device,
                                                            dtype=batch.dtype)
    out = affine(batch, angle, scale, shift_x, shift_y)
    gain, shift = gain.view(n, 1, 1, 1), shift.view(n, 1, 1, 1)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    return (out - mean) * gain + mean + shift


# Test-time augmentation: small shifts and zooms only. No horizontal flip.
TTA_VARIANTS = (  # (scale, shift_x, shift_y)
    (1.0, 0.0, 0.0), (1.0, 0.05, 0.0), (1.0, -0.05, 0.0), (1.0, 0.0, 0.05), (1.0, 0.0, -0.05),
    (0.94, 0.0, 0.0), (1.06, 0.0, 0.0),
)


def tta_batches(batch: torch.Tensor) -> list[torch.Tensor]:
    """The TTA views of a normalised batch, the unchanged view first."""
    n = batch.shape[0]
    like = {"device": batch.device, "dtype": batch.dtype}
    views = [batch]
    for scale, shift_x, shift_y in TTA_VARIANTS[1:]:
        views.append(affine(batch, torch.zeros(n, **like), torch.full((n,), scale, **like),
                            torch.full((n,), shift_x, **like), torch.full((n,), shift_y, **like)))
    return views
