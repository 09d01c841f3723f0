"""Images and Grad-CAM overlays, served by database id only.

No route takes a path: each looks the file up in the database, resolves it (symlinks included)
and serves it only if it lies inside the root the database registers for it: the dataset root
for images, the artifacts root for CAMs and uploads, and only if its first bytes say it is the
kind of image the route serves (a row pointing at a checkpoint, a raw CAM array, or at
/etc/passwd under a tampered dataset root is not). Anything else is a 404.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
from flask import Blueprint, Response, abort, jsonify, make_response, request, send_file
from PIL import Image

from dashboard import auth
from dashboard.auth import requires
from db import evaluations, images, uploads
from db.audit import record_view
from db.files import atomic_write
from db.images import ServedImage
from db.session import artifacts_root, cxr_home
from engine.data.decode import HEAD_BYTES, DecodeError, decode_file, detect_format

log = logging.getLogger(__name__)

THUMB_SIZE = 192
SERVED_FORMATS = ("JPEG", "PNG", "DICOM")
UPLOAD_ROLE = "uploader"  # an upload's pixels, wherever they are served
# Patients' images: no shared cache (a proxy's, a shared browser's disk) may keep a copy.
CACHE_CONTROL = "private, no-store"
# The largest id an INTEGER column holds on PostgreSQL (int4); a longer number in a URL is a 404,
# not an overflow in the database driver.
MAX_ID = 2**31 - 1
blueprint = Blueprint("files", __name__, url_prefix="/files")


def safe_resolve(root: str | Path, relative: str | Path,
                 recorded: str | Path | None = None) -> Path | None:
    """`root/relative` resolved, if it is an existing file inside `root`, or exactly the file
    `recorded` (the real path ingest stored for it, behind a linked folder); otherwise None.

    Absolute `relative` paths, `..` escapes and symlinks that lead anywhere else are refused.
    """
    if relative is None or str(relative) == "" or Path(relative).is_absolute():
        return None
    try:
        base = Path(root).resolve(strict=True)
        candidate = (base / relative).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):  # ValueError: a NUL byte in the path
        return None
    inside = candidate.is_relative_to(base) or (recorded is not None
                                                and str(candidate) == str(recorded))
    if not inside or not candidate.is_file():
        return None
    return candidate


def image_format(path: Path) -> str | None:
    """The image format the file's first bytes name (JPEG, PNG, DICOM, ...), or None."""
    try:
        with open(path, "rb") as handle:
            return detect_format(handle.read(HEAD_BYTES))
    except OSError:
        return None


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
    try:
        with Image.open(source, formats=("JPEG", "PNG")) as image:
            image.draft("L", (THUMB_SIZE * 2, THUMB_SIZE * 2))  # JPEG: decode at reduced scale
            image = image.convert("RGB" if image.mode in ("RGB", "RGBA", "P") else "L")
            image.thumbnail((THUMB_SIZE, THUMB_SIZE))
            # Concurrent workers making the same thumbnail never serve half a file.
            atomic_write(target, lambda out: image.save(out, format="PNG"))
    except (OSError, ValueError, Image.DecompressionBombError):
        log.warning("no thumbnail for %s: it does not decode as JPEG or PNG", source.name)
        abort(404)
    return target


def no_store(response: Response) -> Response:
    """Every answer of the image routes, files and refusals alike, is kept by no cache."""
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


blueprint.after_request(no_store)


def may_see(upload: bool) -> bool:
    """Whether the signed-in user may see these pixels (an upload's need the uploader role)."""
    return not upload or auth.allowed(UPLOAD_ROLE)


def may_see_image(image_id: int) -> bool:
    """Whether the signed-in user may see (or review) the image with this id; an unknown id
    reveals nothing either way."""
    found = images.served_image(image_id)
    return found is None or may_see(found.upload)


UPLOADS_HIDDEN = f"These images are uploads: only the {UPLOAD_ROLE} role and above see them."


def admitted(found: ServedImage | None) -> ServedImage:
    """The image, if the request may see its pixels: a 404 for none, a 403 for a scored
    upload's pixels below the uploader role."""
    if found is None:
        abort(404)
    if not may_see(found.upload):
        abort(make_response(jsonify(error=f"this image is an upload: it needs the {UPLOAD_ROLE} "
                                          "role or above; ask an admin"), 403))
    return found


def audited(target: str, response: Response) -> Response:
    """Record the view (once per image, user and sign-in) of an image about to be served."""
    record_view(auth.current_actor(), target, request.path)
    return response


def _send(path: Path, mimetype: str | None = None) -> Response:
    return send_file(path, mimetype=mimetype, conditional=True)


def _image_path(image_id: int) -> Path:
    found = images.image_file(image_id)
    path = safe_resolve(found.root, found.rel_path, found.real_path) if found else None
    if path is None or image_format(path) not in SERVED_FORMATS:
        if found is not None:  # a registered image that cannot be served: say why in the log
            log.warning("image %s (%s under %s) is not served: missing, not an image, or it "
                        "leads outside the dataset root to a file ingest did not record; run "
                        "`cxr ingest` on the folder again", image_id, found.rel_path, found.root)
        abort(404)
    return path


def _artifact_path(relative: str | None, formats: tuple[str, ...] = ("PNG",)) -> Path:
    path = safe_resolve(artifacts_root(), relative) if relative else None
    if path is None or image_format(path) not in formats:
        abort(404)
    return path


@blueprint.route(f"/image/<int(max={MAX_ID}):image_id>")
@requires("viewer")
def image(image_id: int) -> Response:
    served = admitted(images.served_image(image_id))
    return audited(f"image {served.image_id}", _send(_image_path(image_id)))


@blueprint.route(f"/thumb/<int(max={MAX_ID}):image_id>")
@requires("viewer")
def thumb(image_id: int) -> Response:
    served = admitted(images.served_image(image_id))
    return audited(f"image {served.image_id}",
                   _send(_thumbnail(_image_path(image_id), f"image-{image_id}"), "image/png"))


@blueprint.route(f"/cam/<int(max={MAX_ID}):prediction_id>")
@requires("viewer")
def cam(prediction_id: int) -> Response:
    served = admitted(images.served_prediction_image(prediction_id))
    path = _artifact_path(evaluations.prediction_cam_path(prediction_id))
    return audited(f"image {served.image_id}", _send(path, "image/png"))


@blueprint.route(f"/cam-thumb/<int(max={MAX_ID}):prediction_id>")
@requires("viewer")
def cam_thumb(prediction_id: int) -> Response:
    served = admitted(images.served_prediction_image(prediction_id))
    path = _artifact_path(evaluations.prediction_cam_path(prediction_id))
    return audited(f"image {served.image_id}",
                   _send(_thumbnail(path, f"cam-{prediction_id}"), "image/png"))


@blueprint.route(f"/upload/<int(max={MAX_ID}):upload_id>")
@requires("uploader")
def upload(upload_id: int) -> Response:
    found = uploads.get_upload(upload_id)
    if found is None:
        abort(404)
    # The file must be what the row says.
    path = _artifact_path(found.stored_path, (found.file_format.upper(),))
    if found.file_format.upper() != "DICOM":
        return audited(f"upload {upload_id}", _send(path))
    try:
        gray = decode_file(path)
    except DecodeError:
        log.exception("upload %s cannot be decoded", upload_id)
        abort(404)
    return audited(f"upload {upload_id}", Response(_png_bytes(Image.fromarray(np.asarray(gray))),
                                                   mimetype="image/png"))


@blueprint.route(f"/upload-cam/<int(max={MAX_ID}):upload_score_id>")
@requires("uploader")
def upload_cam(upload_score_id: int) -> Response:
    path = _artifact_path(uploads.upload_score_cam_path(upload_score_id))
    return audited(f"upload score {upload_score_id}", _send(path, "image/png"))


@blueprint.route("/<path:_anything>")
@requires("viewer")
def not_a_file_route(_anything: str) -> Response:
    """Anything else under /files is a 404, never the app shell and never a path lookup."""
    abort(404)
