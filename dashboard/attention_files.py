"""The Grad-CAM overlay with the lung-mask outline drawn over it, served by prediction id.

The lung mask is not stored: it is recomputed here from the image, exactly as the evaluation
pass computed it for the CAM metrics (engine.lungmask on the image decoded and resized to the
CAM's size), so the outline shows the very region the stored lung share was measured against.
Like dashboard/files.py, the route takes an id, never a path, and serves only files inside the
roots the database registers.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import cv2
import numpy as np
from flask import Blueprint, Response, abort, send_file
from PIL import Image

from dashboard.auth import requires
from dashboard.files import CACHE_SECONDS, safe_resolve, thumbs_dir
from db import evaluations, images
from db.session import artifacts_root
from engine.decode import DecodeError, decode_file, resize
from engine.lungmask import lung_mask

log = logging.getLogger(__name__)

DISPLAY_SIZE = 384  # small CAMs (64-224 px) are scaled up so the outline stays crisp
OUTLINE_RGB = (0, 255, 255)
blueprint = Blueprint("attention_files", __name__, url_prefix="/attention")


def outline_overlay(gray: np.ndarray, overlay: np.ndarray,
                    display_size: int = DISPLAY_SIZE) -> np.ndarray:
    """(S, S) uint8 image and (h, w, 3) CAM overlay -> RGB overlay with the lung outline.

    The mask is computed on `gray` (the image at the CAM's size), then scaled with the overlay.
    """
    size = max(display_size, gray.shape[0])
    mask = cv2.resize(lung_mask(gray).astype(np.uint8), (size, size),
                      interpolation=cv2.INTER_NEAREST)
    canvas = np.ascontiguousarray(cv2.resize(overlay, (size, size),
                                             interpolation=cv2.INTER_LINEAR))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(canvas, contours, -1, OUTLINE_RGB, thickness=max(size // 160, 2),
                     lineType=cv2.LINE_AA)
    return canvas


def _cam_size(raw: Path | None, overlay: np.ndarray) -> int:
    if raw is not None:
        return int(np.load(raw, mmap_mode="r").shape[0])
    return int(overlay.shape[0])


def _render(prediction_id: int) -> Path:
    found = evaluations.prediction_cam_files(prediction_id)
    if found is None:
        abort(404)
    image_id, cam_path, cam_raw_path = found
    overlay_path = safe_resolve(artifacts_root(), cam_path) if cam_path else None
    location = images.image_location(image_id)
    image_path = safe_resolve(*location) if location else None
    if overlay_path is None or image_path is None:
        abort(404)
    target = thumbs_dir() / f"lung-outline-{prediction_id}.png"
    if target.is_file() and target.stat().st_mtime >= overlay_path.stat().st_mtime:
        return target
    raw = safe_resolve(artifacts_root(), cam_raw_path) if cam_raw_path else None
    with Image.open(overlay_path, formats=("PNG",)) as image:
        overlay = np.asarray(image.convert("RGB"))
    try:
        gray = resize(decode_file(image_path), _cam_size(raw, overlay))
    except DecodeError:
        log.exception("image %s cannot be decoded for its lung outline", image_id)
        abort(404)
    buffer = io.BytesIO()
    Image.fromarray(outline_overlay(gray, overlay)).save(buffer, format="PNG", compress_level=1)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".tmp")
    partial.write_bytes(buffer.getvalue())
    partial.replace(target)  # atomic: concurrent workers never serve half a file
    return target


@blueprint.route("/lung-outline/<int:prediction_id>")
@requires("viewer")
def lung_outline(prediction_id: int) -> Response:
    response = send_file(_render(prediction_id), mimetype="image/png", max_age=CACHE_SECONDS,
                         conditional=True)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
