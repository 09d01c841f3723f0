"""Small embedded images for the report: an image's pixels and its Grad-CAM with the stored lung
outline, each a base64 JPEG data URI.

Pixels only: a DICOM is decoded to its pixel array (no attribute survives), a JPEG or PNG is
re-encoded without its metadata, and nothing carries a file name. A file that is missing, lies
outside its root or does not decode as an image is left out (None), never an error.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
from PIL import Image

from db import images
from db.gallery import PredictionView
from db.session import artifacts_root
from engine.data.decode import DecodeError, decode_file
from engine.explain.lungmask import outline_overlay

THUMB_SIZE = 160
JPEG_QUALITY = 80


def data_uri(pixels: np.ndarray, size: int = THUMB_SIZE) -> str:
    """A gray (h, w) or RGB (h, w, 3) uint8 array as a JPEG data URI at most `size` px wide."""
    image = Image.fromarray(np.ascontiguousarray(pixels))
    image.thumbnail((size, size))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _inside(root: str | Path, relative: str, recorded: str | None = None) -> Path | None:
    """root/relative resolved, if it is a file inside root (or exactly the recorded real path)."""
    try:
        base = Path(root).resolve(strict=True)
        candidate = (base / relative).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):
        return None
    inside = candidate.is_relative_to(base) or (recorded is not None
                                                and str(candidate) == str(recorded))
    return candidate if inside and candidate.is_file() else None


def image_thumbnail(image_id: int) -> str | None:
    found = images.image_file(image_id)
    path = _inside(found.root, found.rel_path, found.real_path) if found else None
    if path is None:
        return None
    try:
        return data_uri(decode_file(path))
    except (DecodeError, OSError, ValueError):
        return None


def cam_thumbnail(prediction: PredictionView) -> str | None:
    """The CAM overlay with the lung outline its lung share was measured against, as drawn by
    the dashboard's lung-outline route."""
    path = _inside(artifacts_root(), prediction.cam_path) if prediction.cam_path else None
    if path is None:
        return None
    try:
        with Image.open(path, formats=("PNG",)) as image:
            overlay = np.asarray(image.convert("RGB"))
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return data_uri(outline_overlay(overlay, prediction.lung_outline, display_size=THUMB_SIZE))
