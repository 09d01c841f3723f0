"""Uploads: check, decode, score with every chosen run, then store the file, overlays and rows.

What is stored is only what scoring needs: a JPEG or PNG as a PNG of its decoded gray pixels
with no metadata chunk (no EXIF, comments or text), a DICOM as its de-identified copy
(engine/data/deid.py). The bytes as uploaded and the uploaded file name are never stored: the file
is `$CXR_HOME/artifacts/uploads/<generated id>.<ext>` and the upload is "upload <id>". Uploads are
deduplicated by the sha256 of what is stored. Nothing is written before the file has decoded and
every run has scored it, so a bad file leaves no trace.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from db import runs as runs_db
from db import uploads as upload_db
from db.audit import Actor, cli_actor
from db.files import atomic_write
from db.registry import production_run_id
from db.session import artifacts_root
from engine import settings
from engine.data.decode import DecodeError, decode_image
from engine.data.deid import deidentify
from engine.data.input_checks import check_input
from engine.errors import UserError

if TYPE_CHECKING:  # engine.inference.scoring imports torch: loaded when something is scored
    from engine.inference.scoring import RunScore

UPLOADS_DIR = "uploads"
EXTENSIONS = {"PNG": ".png", "DICOM": ".dcm"}


class UploadRejected(DecodeError):
    """An upload refused before decoding (too large, unreadable payload)."""


def max_upload_mb() -> float:
    """CXR_MAX_UPLOAD_MB; a value that is not a positive number is a UserError naming it."""
    return settings.CXR_MAX_UPLOAD_MB.get()


def max_upload_bytes() -> int:
    return int(max_upload_mb() * 1024 * 1024)


def check_size(size_bytes: int, name: str) -> None:
    limit = max_upload_bytes()
    if size_bytes > limit:
        raise UploadRejected(
            f"{name}: {size_bytes / 1024 / 1024:.2f} MB is over the {max_upload_mb():g} MB "
            "upload limit (set CXR_MAX_UPLOAD_MB to change it)")


def read_upload_file(path: str | Path) -> bytes:
    """The bytes of a file to score; its size is checked before it is read."""
    path = Path(path)
    try:
        if path.is_dir():
            raise UploadRejected(f"{path}: is a folder; pass the image files in it "
                                 f"(for example {path}/*.jpeg)")
        if not path.is_file():  # a pipe or device is never opened: reading it could block
            raise UploadRejected(f"{path}: not a regular file (a pipe, socket or device); pass "
                                 f"an image file" if path.exists() else f"{path}: no such file")
        check_size(path.stat().st_size, str(path))
        return path.read_bytes()
    except OSError as exc:
        raise UploadRejected(f"{path}: cannot read file ({exc.strerror or exc})") from exc


def decode_data_url(contents: str | None, name: str) -> bytes:
    """A browser upload payload (`data:<type>;base64,<data>`) -> the file's bytes."""
    if not contents:
        raise UploadRejected(f"{name}: empty file (0 bytes); upload a JPEG, PNG or DICOM image")
    header, sep, payload = contents.partition(",")
    if not sep or not header.startswith("data:") or not header.endswith(";base64"):
        raise UploadRejected(f"{name}: the upload payload is not a base64 data URL; try again")
    # Base64 is 4/3 of the file: refuse an oversized payload before decoding it.
    check_size(len(payload) * 3 // 4, name)
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UploadRejected(f"{name}: the upload payload is not valid base64 ({exc}); "
                             "upload the file again") from exc


@dataclass(frozen=True)
class DecodedUpload:
    """One upload ready to score and store: what will be kept, never the bytes as uploaded."""

    name: str  # as uploaded: messages to the uploader only, never stored
    stored: bytes  # a PNG of the decoded pixels, or the de-identified DICOM
    sha256: str  # of `stored`: two uploads that store the same bytes are one upload
    file_format: str  # what is stored: PNG or DICOM
    uploaded_format: str  # JPEG / PNG / DICOM, from the content
    gray: np.ndarray  # full resolution
    input_check: str | None = None  # the failed input check that `force` overrode
    deidentified: tuple[str, ...] = ()  # DICOM: what the stored copy lost (engine/data/deid.py)


def pixels_png(gray: np.ndarray) -> bytes:
    """The pixels alone, losslessly: a PNG with no ancillary chunk (only IHDR, IDAT, IEND)."""
    buffer = io.BytesIO()
    Image.fromarray(gray).save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def _stored_copy(data: bytes, gray: np.ndarray, file_format: str,
                 name: str) -> tuple[bytes, str, list[str]]:
    """(bytes to store, their format, what de-identification removed)."""
    if file_format != "DICOM":
        return pixels_png(gray), "PNG", []
    stored, removed = deidentify(data, name)
    if not np.array_equal(decode_image(stored, name).gray, gray):
        raise DecodeError(f"{name}: the de-identified copy does not decode to the same image, "
                          "so it is not stored; convert the file to PNG and upload that")
    return stored, "DICOM", removed


def decode_upload(data: bytes, name: str, force: bool = False) -> DecodedUpload:
    """Check, decode and strip one upload; raises DecodeError (or UploadRejected) saying why.

    A file that decodes but fails the input checks (engine/data/input_checks.py) raises InputRefused
    unless `force`; then the reason is kept and stored with its scores.
    """
    check_size(len(data), name)
    image = decode_image(data, name)
    input_check = check_input(image, name, force)
    stored, file_format, removed = _stored_copy(data, image.gray, image.file_format, name)
    return DecodedUpload(name, stored, hashlib.sha256(stored).hexdigest(), file_format,
                         image.file_format, image.gray, input_check, tuple(removed))


def unusable_production() -> str | None:
    """A one-line note when the `production` run cannot score (a store from before promotion
    refused runs without a checkpoint, or its run failed since): every completed run answers."""
    production = production_run_id()
    if production is None or runs_db.completed_runs([production]):
        return None
    return (f"run {production} holds the production alias but cannot score (not completed, or "
            "no checkpoint): every completed run answers; `cxr promote RUN` sets another")


def scoring_run_ids(run_ids: list[int] | None, every_run: bool = False) -> list[int]:
    """The runs to score with: the given ones (which must be completed); else the `production`
    run when one is set and can score (with every other completed run after it, as challengers,
    when `every_run`); else every completed run."""
    if not run_ids:
        production = production_run_id()
        if production is not None and runs_db.completed_runs([production]):
            if not every_run:
                return [production]
            others = [run.id for run in runs_db.completed_runs() if run.id != production]
            return [production, *others]
    runs = runs_db.completed_runs(run_ids)
    if run_ids:
        missing = sorted(set(run_ids) - {run.id for run in runs})
        if missing:
            raise UserError(f"run(s) {', '.join(map(str, missing))} cannot score: only "
                            "completed runs with a checkpoint and completed ensembles can; "
                            "`cxr runs` lists them")
    if not runs:
        raise UserError("no completed runs to score with; train one with `cxr train` or "
                        "`cxr demo`")
    return [run.id for run in runs]


def _store(upload: DecodedUpload, scores: list[RunScore], actor: Actor,
           ) -> upload_db.ScoredUpload:
    """Write the file (unless known), the overlays and the rows; undo the files on failure."""
    root = artifacts_root()
    token = uuid.uuid4().hex
    written: list[Path] = []
    try:
        known = upload_db.find_upload(upload.sha256)
        stored_path = known.stored_path if known else (
            f"{UPLOADS_DIR}/{token}{EXTENSIONS[upload.file_format]}")
        if known is None:
            written.append(root / stored_path)
            atomic_write(root / stored_path, upload.stored)
        cam_paths = []
        for score in scores:
            cam_path = f"{UPLOADS_DIR}/cams/{token}-run{score.run_id}.png"
            (root / cam_path).parent.mkdir(parents=True, exist_ok=True)
            written.append(root / cam_path)
            Image.fromarray(score.overlay()).save(root / cam_path, compress_level=1)
            cam_paths.append(cam_path)
        scored = upload_db.record_scores(
            upload.sha256, stored_path, upload.file_format, len(upload.stored), scores,
            cam_paths, upload.input_check, upload_db.StoredBy(
                actor, list(upload.deidentified) if upload.file_format == "DICOM" else None))
        if scored.upload.stored_path != stored_path:  # lost a race with an identical upload
            (root / stored_path).unlink(missing_ok=True)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return scored


def score_uploads(uploads: list[DecodedUpload], run_ids: list[int] | None = None,
                  actor: Actor | None = None, device: str | None = None,
                  ) -> list[upload_db.ScoredUpload]:
    """Score decoded uploads with each run (batched per run) on `device` (None: $CXR_DEVICE,
    else auto), then store each of them.

    Returns what the store holds, in order: the name and format as uploaded stay with the
    caller's DecodedUpload, never in the store.

    `actor` is who uploads (the signed-in user); None means the command line's user.
    """
    if not uploads:
        return []
    from engine.inference.scoring import get_scorer

    chosen = scoring_run_ids(run_ids)
    per_run = [get_scorer(run_id, device).score_batch([upload.gray for upload in uploads])
               for run_id in chosen]
    per_upload = [list(scores) for scores in zip(*per_run, strict=True)]
    actor = actor or cli_actor()
    return [_store(upload, scores, actor)
            for upload, scores in zip(uploads, per_upload, strict=True)]


def score_upload_bytes(data: bytes, name: str, run_ids: list[int] | None = None,
                       force: bool = False, actor: Actor | None = None,
                       device: str | None = None) -> upload_db.ScoredUpload:
    """Decode, check, score, store one upload; DecodeError/UserError when it cannot be scored.

    A file failing the input checks is refused (InputRefused) unless `force`.
    """
    return score_uploads([decode_upload(data, name, force)], run_ids, actor, device)[0]


def uploads_dataset() -> int:
    """Register the labelled uploads as a dataset for `cxr evaluate RUN --uploads`."""
    folder = artifacts_root() / UPLOADS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    synced = upload_db.sync_uploads_dataset(str(folder.resolve()))
    if not synced.labelled:
        raise UserError("no labelled uploads to evaluate: record true labels on the Score page "
                        "first")
    return synced.dataset_id

