"""Images and Grad-CAM overlays, served by database id only.

No route takes a path: each looks the file up in the database, resolves it (symlinks included)
and serves it only if it lies inside the root the database registers for it: the dataset root
for images, the artifacts root for CAMs and uploads. Anything else is a 404.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
from flask import Blueprint, Response, abort, send_file
from PIL import Image

from db import queries
from db.session import artifacts_root, cxr_home

log = logging.getLogger(__name__)

THUMB_SIZE = 192
CACHE_SECONDS = 3600
blueprint = Blueprint("files", __name__, url_prefix="/files")


def safe_resolve(root: str | Path, relative: str | Path) -> Path | None:
    """`root/relative` resolved, if it is an existing file inside `root`; otherwise None.

    Absolute `relative` paths, `..` escapes and symlinks that lead outside are all refused.
    """
    if relative is None or str(relative) == "" or Path(relative).is_absolute():
        return None
    try:
        base = Path(root).resolve(strict=True)
        candidate = (base / relative).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not candidate.is_relative_to(base) or not candidate.is_file():
        return None
    return candidate


def thumbs_dir() -> Path:
    return cxr_home() / "cache" / "thumbs"


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _thumbnail(source: Path, key: str) -> Path:
    """A cached PNG thumbnail of `source`, rebuilt when the source is newer."""
    target = thumbs_dir() / f"{key}.png"
    if target.is_file() and target.stat().st_mtime >= source.stat().st_mtime:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(source, formats=("JPEG", "PNG")) as image:
        image.draft("L", (THUMB_SIZE * 2, THUMB_SIZE * 2))  # JPEG: decode at reduced scale
        image = image.convert("RGB" if image.mode in ("RGB", "RGBA", "P") else "L")
        image.thumbnail((THUMB_SIZE, THUMB_SIZE))
        partial = target.with_suffix(".tmp")
        image.save(partial, format="PNG")
    partial.replace(target)  # atomic: concurrent workers never serve half a file
    return target


def _send(path: Path, mimetype: str | None = None) -> Response:
    response = send_file(path, mimetype=mimetype, max_age=CACHE_SECONDS, conditional=True)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _image_path(image_id: int) -> Path:
    location = queries.image_location(image_id)
    path = safe_resolve(*location) if location else None
    if path is None:
        abort(404)
    return path


def _artifact_path(relative: str | None) -> Path:
    path = safe_resolve(artifacts_root(), relative) if relative else None
    if path is None:
        abort(404)
    return path


@blueprint.route("/image/<int:image_id>")
def image(image_id: int) -> Response:
    return _send(_image_path(image_id))


@blueprint.route("/thumb/<int:image_id>")
def thumb(image_id: int) -> Response:
    return _send(_thumbnail(_image_path(image_id), f"image-{image_id}"), "image/png")


@blueprint.route("/cam/<int:prediction_id>")
def cam(prediction_id: int) -> Response:
    return _send(_artifact_path(queries.prediction_cam_path(prediction_id)), "image/png")


@blueprint.route("/cam-thumb/<int:prediction_id>")
def cam_thumb(prediction_id: int) -> Response:
    path = _artifact_path(queries.prediction_cam_path(prediction_id))
    return _send(_thumbnail(path, f"cam-{prediction_id}"), "image/png")


@blueprint.route("/upload/<int:upload_id>")
def upload(upload_id: int) -> Response:
    found = queries.upload_stored_path(upload_id)
    path = _artifact_path(found[0] if found else None)
    if found[1].upper() != "DICOM":
        return _send(path)
    from engine.decode import DecodeError, decode_file

    try:
        gray = decode_file(path)
    except DecodeError:
        log.exception("upload %s cannot be decoded", upload_id)
        abort(404)
    return Response(_png_bytes(Image.fromarray(np.asarray(gray))), mimetype="image/png")


@blueprint.route("/upload-cam/<int:upload_score_id>")
def upload_cam(upload_score_id: int) -> Response:
    return _send(_artifact_path(queries.upload_score_cam_path(upload_score_id)), "image/png")


@blueprint.route("/<path:_anything>")
def not_a_file_route(_anything: str) -> Response:
    """Anything else under /files is a 404, never the app shell and never a path lookup."""
    abort(404)
