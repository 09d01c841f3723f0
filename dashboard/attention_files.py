"""The Grad-CAM overlay with the lung-mask outline drawn over it, served by prediction id.

The outline is the one the evaluation pass stored with the prediction (predictions.lung_outline,
engine/explain/lungmask.py): the very mask the stored lung share was measured against, on the pixels
the model saw (a shifted evaluation's shifted image included). Nothing is recomputed here. A
prediction evaluated before outlines were stored is served as its plain overlay. Like
dashboard/files.py, the route takes an id, never a path, and serves only files inside the
artifacts root.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from flask import Blueprint, Response, abort, send_file
from PIL import Image

from dashboard.auth import requires
from dashboard.files import MAX_ID, admitted, audited, no_store, safe_resolve, thumbs_dir
from db import gallery, images
from db.files import atomic_write
from db.session import artifacts_root
from engine.explain.lungmask import outline_overlay

blueprint = Blueprint("attention_files", __name__, url_prefix="/attention")
blueprint.after_request(no_store)


def _render(prediction_id: int) -> Path:
    found = gallery.prediction(prediction_id)
    if found is None or not found.cam_path:
        abort(404)
    overlay_path = safe_resolve(artifacts_root(), found.cam_path)
    if overlay_path is None:
        abort(404)
    target = thumbs_dir() / f"lung-outline-{prediction_id}.png"
    if target.is_file() and target.stat().st_mtime >= overlay_path.stat().st_mtime:
        return target
    with Image.open(overlay_path, formats=("PNG",)) as image:
        overlay = np.asarray(image.convert("RGB"))
    buffer = io.BytesIO()
    Image.fromarray(outline_overlay(overlay, found.lung_outline)).save(
        buffer, format="PNG", compress_level=1)
    atomic_write(target, buffer.getvalue())  # concurrent workers never serve half a file
    return target


@blueprint.route(f"/lung-outline/<int(max={MAX_ID}):prediction_id>")
@requires("viewer")
def lung_outline(prediction_id: int) -> Response:
    served = admitted(images.served_prediction_image(prediction_id))
    return audited(f"image {served.image_id}",
                   send_file(_render(prediction_id), mimetype="image/png", conditional=True))
