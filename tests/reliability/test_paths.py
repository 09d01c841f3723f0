"""Hostile paths against the image, CAM and upload routes: every one refused, nothing read
outside the roots.

The lesson of MLflow's artifact-serving CVEs (CVE-2023-1177, CVE-2023-2780, CVE-2024-1560,
CVE-2024-3848): resolve the path, then check it stays inside the root. Here the routes take
database ids only, so two attack surfaces are tried:
- hostile request paths (traversal, encodings, NUL, `#`, `;`, whitespace), through Flask's test
  client and as raw bytes on a socket to a live server, where no client normalises them first;
- tampered database rows whose path, or a symlink on it, leads outside the dataset or artifacts
  root, and rows inside the root that point at something that is not an image.

A sentinel file outside every root carries a secret: it must never appear in a response, and an
audit hook on `open` proves the server process never opened it (nor /etc/passwd).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from sqlalchemy import delete, insert, select
from werkzeug.serving import make_server

from dashboard.files import safe_resolve, thumbs_dir
from db.models import Dataset, Evaluation, Image, Prediction, Upload, UploadScore
from db.session import artifacts_root, get_engine, session_scope

SECRET = f"CXR-SENTINEL-{uuid.uuid4().hex}".encode()
LEAKS = (SECRET, b"root:x:0:0", b"SQLite format 3", b"\x93NUMPY", b"PK\x03\x04")
ROUTES = ("image", "thumb", "cam", "cam-thumb", "upload", "upload-cam")

# Hostile request paths, appended to /files/<route>/. Raw: sent byte for byte on the socket.
HOSTILE_PATHS = [
    "../../etc/passwd", "../../../../../../etc/passwd", "/etc/passwd", "%2Fetc%2Fpasswd",
    "..\\x", "..\\..\\etc\\passwd", "..%5C..%5Cetc%5Cpasswd", "C:\\x", "C:%5Cx", "C:/x",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "..%2f..%2fetc%2fpasswd", "%2e%2e/%2e%2e/etc/passwd",
    "%252e%252e%252f%252e%252e%252fetc%252fpasswd", "%25%32%65%25%32%65%25%32%66etc",
    "%00.png", "1%00.png", "%00../../etc/passwd", "1%00",
    "999999#/../../etc/passwd", "#../../etc/passwd", "%23../../etc/passwd",
    "1;/../../etc/passwd", "..;/..;/etc/passwd", "1%3B.png", ";x",
    "1%09", "%09../../etc/passwd", "1%0a", "%0d%0a../../etc/passwd", "1%0d%0aX-Injected:%201",
    "999999", "0", "-1", "1.5", "1e3", "0x1", "2147483648", "99999999999999999999999999",
    "%c0%ae%c0%ae%c0%af%c0%ae%c0%ae%c0%afetc%c0%afpasswd", "..%u2216..%u2216etc%u2216passwd",
]
# Whitespace that breaks the request line itself (only possible on a raw socket).
RAW_ONLY = ["\t../../etc/passwd", "999999\t", "x\ty", "\n../../etc/passwd",
            "999999\r\n../../etc/passwd", "\r\n\r\nGET /etc/passwd"]


class OpenAudit:
    """Every path the process opens while recording (sys.addaudithook 'open' events)."""

    def __init__(self) -> None:
        self.recording = False
        self.opened: list[str] = []
        sys.addaudithook(self._hook)  # hooks cannot be removed; this one goes quiet after use

    def _hook(self, event: str, args: tuple) -> None:
        if self.recording and event == "open" and isinstance(args[0], (str, bytes, Path)):
            self.opened.append(os.fsdecode(args[0]))

    def touched(self, forbidden: list[Path]) -> list[str]:
        hits = []
        for opened in self.opened:
            resolved = Path(os.path.abspath(opened))
            if any(resolved == f or resolved.is_relative_to(f) for f in forbidden):
                hits.append(opened)
        return hits


@dataclass
class Tampered:
    """Ids of rows planted in the store: route -> {case: id}; `ok` cases must be served."""

    urls: dict[str, dict[str, str]] = field(default_factory=dict)
    outside: Path = Path()
    secret: Path = Path()


def _png(payload: bytes) -> bytes:
    """A file that starts like a PNG, so only the path checks stand between it and a client."""
    return b"\x89PNG\r\n\x1a\n" + payload


def _escape_variants(root: Path, secret: Path, link_dir: Path, link_rel: str) -> dict[str, str]:
    """Row paths that lead outside `root`, relative to it, plus the symlinks they use."""
    link_dir.mkdir(parents=True, exist_ok=True)
    os.symlink(secret, link_dir / "link.png")
    os.symlink(secret.parent, link_dir / "dirlink")
    escape = os.path.relpath(secret, root)
    return {
        "dotdot": escape,
        "dotdot-inside-first": f"{link_rel}/../{escape}",
        "absolute": str(secret),
        "double-slash": "/" + str(secret),
        "symlink": f"{link_rel}/link.png",
        "symlink-dir": f"{link_rel}/dirlink/{secret.name}",
        "backslash": escape.replace("/", "\\"),
        "drive": "C:\\" + secret.name,
        "percent": escape.replace("..", "%2e%2e"),
        "empty": "",
    }


def _plant(run_id: int, dataset_root: Path, image_rows: dict, artifact_rows: dict,
           run_image_ids: list[int], secret: Path) -> dict:
    """The tampered rows, written; their ids by kind (and by case)."""
    artifacts = artifacts_root()
    with session_scope(write=True) as session:
        dataset_id = session.execute(insert(Dataset).returning(Dataset.id), [{
            "name": "tampered", "root": str(dataset_root)}]).scalar_one()
        image_ids = {case: session.execute(insert(Image).returning(Image.id), [{
            "dataset_id": dataset_id, "rel_path": rel, "sha256": f"tampered-{case}",
            "label": 0, "source_folder": "", "patient_id": f"tampered-{case}"}]).scalar_one()
            for case, rel in image_rows.items()}
        # Status "failed": the dashboard's pages never list it, only the file routes see it.
        evaluation_id = session.execute(insert(Evaluation).returning(Evaluation.id), [{
            "run_id": run_id, "split": "external", "dataset_id": dataset_id,
            "status": "failed"}]).scalar_one()
        prediction_ids = {case: session.execute(insert(Prediction).returning(Prediction.id), [{
            "evaluation_id": evaluation_id, "image_id": image_id, "probability": 0.5,
            "predicted_label": 1, "true_label": 0, "correct": False,
            "cam_path": artifact_rows[case]}]).scalar_one()
            for case, image_id in zip(artifact_rows, run_image_ids, strict=False)}
        upload_ids = {case: session.execute(insert(Upload).returning(Upload.id), [{
            "sha256": uuid.uuid4().hex, "stored_path": path if path is not None else "",
            "file_format": "PNG",
            "size_bytes": 1}]).scalar_one() for case, path in artifact_rows.items()}
        dicom_upload = session.execute(insert(Upload).returning(Upload.id), [{
            "sha256": uuid.uuid4().hex, "stored_path": os.path.relpath(secret, artifacts),
            "file_format": "DICOM", "size_bytes": 1}]).scalar_one()
        score_ids = {case: session.execute(insert(UploadScore).returning(UploadScore.id), [{
            "upload_id": upload_ids["ok"], "run_id": run_id, "probability": 0.5,
            "predicted_label": 1, "threshold": 0.5, "cam_path": path,
            "inference_ms": 1.0}]).scalar_one() for case, path in artifact_rows.items()}
    return {"dataset": dataset_id, "evaluation": evaluation_id, "images": image_ids,
            "predictions": prediction_ids, "uploads": upload_ids, "dicom": dicom_upload,
            "scores": score_ids}


def _unplant(planted: dict) -> None:
    with session_scope(write=True) as session:
        session.execute(delete(UploadScore).where(
            UploadScore.id.in_(planted["scores"].values())))
        session.execute(delete(Upload).where(
            Upload.id.in_([*planted["uploads"].values(), planted["dicom"]])))
        session.execute(delete(Prediction).where(
            Prediction.evaluation_id == planted["evaluation"]))
        session.execute(delete(Evaluation).where(Evaluation.id == planted["evaluation"]))
        session.execute(delete(Image).where(Image.dataset_id == planted["dataset"]))
        session.execute(delete(Dataset).where(Dataset.id == planted["dataset"]))


@pytest.fixture(scope="module")
def tampered(trained_home: dict, tmp_path_factory: pytest.TempPathFactory,
             ) -> Iterator[Tampered]:
    """Rows whose paths lead outside their roots, planted in the trained store, then removed."""
    run_id = trained_home["run_ids"][0]
    outside = tmp_path_factory.mktemp("outside-every-root")
    secret = outside / "secret.png"
    secret.write_bytes(_png(SECRET))
    (outside / "not-an-image.txt").write_bytes(SECRET)
    sqlite = get_engine().dialect.name == "sqlite"

    dataset_root = tmp_path_factory.mktemp("tampered-dataset")
    real_jpeg = sorted((trained_home["data"] / "NORMAL").iterdir())[0]
    (dataset_root / "NORMAL").mkdir()
    shutil.copy(real_jpeg, dataset_root / "NORMAL" / "ok.jpeg")
    (dataset_root / "NORMAL" / "notes.txt").write_text("inside the root, but not an image")
    image_rows = {"ok": "NORMAL/ok.jpeg", "text-inside-root": "NORMAL/notes.txt",
                  **_escape_variants(dataset_root, secret, dataset_root / "links", "links")}
    if sqlite:  # PostgreSQL text cannot hold NUL at all
        image_rows["nul"] = "NORMAL/ok.jpeg\x00.png"

    artifacts = artifacts_root()
    planted = artifacts / f"tampered-{uuid.uuid4().hex[:8]}"
    with session_scope() as session:
        real = session.execute(select(Prediction.cam_path, Prediction.cam_raw_path)
                               .where(Prediction.cam_path.is_not(None)).limit(1)).one()
        # The planted evaluation predicts the run's own images (one row per image).
        run_image_ids = list(session.scalars(select(Image.id).order_by(Image.id).limit(50)))
    artifact_rows = {"ok": real.cam_path, "raw-cam-array": real.cam_raw_path,
                     "checkpoint": f"runs/{run_id}/best.pt", "database": "../cxr.db",
                     "null": None,
                     **_escape_variants(artifacts, secret, planted, planted.name)}

    rows = _plant(run_id, dataset_root, image_rows, artifact_rows, run_image_ids, secret)
    image_ids, prediction_ids = rows["images"], rows["predictions"]
    upload_ids, dicom_upload, score_ids = rows["uploads"], rows["dicom"], rows["scores"]
    assert len(prediction_ids) == len(artifact_rows)  # enough images for one row per case

    urls = {
        "image": {case: f"/files/image/{i}" for case, i in image_ids.items()},
        "thumb": {case: f"/files/thumb/{i}" for case, i in image_ids.items()},
        "cam": {case: f"/files/cam/{i}" for case, i in prediction_ids.items()},
        "cam-thumb": {case: f"/files/cam-thumb/{i}" for case, i in prediction_ids.items()},
        "upload": {**{case: f"/files/upload/{i}" for case, i in upload_ids.items()},
                   "dicom-outside": f"/files/upload/{dicom_upload}"},
        "upload-cam": {case: f"/files/upload-cam/{i}" for case, i in score_ids.items()},
    }
    try:
        yield Tampered(urls, outside, secret)
    finally:
        _unplant(rows)
        shutil.rmtree(planted, ignore_errors=True)
        # Thumbnails are cached by id; ids of deleted rows can come back on SQLite.
        for thumb in (f"image-{image_ids['ok']}", f"cam-{prediction_ids['ok']}"):
            (thumbs_dir() / f"{thumb}.png").unlink(missing_ok=True)


@pytest.fixture(scope="module")
def app(trained_home: dict):
    from dashboard.app import create_app

    # These tests are about path handling on loopback, not sign-in (tests/dashboard/
    # test_access.py covers that): sign-in off, as `cxr serve --no-auth` serves it.
    return create_app(auth_enabled=False)


@pytest.fixture(scope="module")
def live(app) -> Iterator[tuple[str, int]]:
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", server.server_port
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def audit() -> OpenAudit:
    return OpenAudit()


def raw_get(address: tuple[str, int], target: str) -> tuple[int | None, bytes]:
    """GET `target` byte for byte (no client-side normalisation); (status, response).

    A newline in the target ends the request line early, leaving `GET /files/x/`: an HTTP/0.9
    request, answered with a bare body and no status line; its status is read from the error
    page's title.
    """
    with socket.create_connection(address, timeout=30) as sock:
        sock.sendall(b"GET " + target.encode("latin-1") + b" HTTP/1.1\r\nHost: localhost\r\n"
                     b"Connection: close\r\n\r\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    response = b"".join(chunks)
    found = (re.match(rb"HTTP/1\.[01] (\d{3}) ", response) if response.startswith(b"HTTP/")
             else re.match(rb"<!doctype html>\s*<html lang=en>\s*<title>(\d{3}) ", response))
    return (int(found.group(1)) if found else None), response


def _assert_no_leak(body: bytes, what: str) -> None:
    for leak in LEAKS:
        assert leak not in body, f"{what} leaked {leak[:20]!r}"


def test_tampered_rows_are_refused(app, tampered: Tampered, audit: OpenAudit) -> None:
    client = app.server.test_client()
    audit.recording = True
    try:
        observed = {}
        for route, cases in tampered.urls.items():
            for case, url in cases.items():
                response = client.get(url)
                observed[(route, case)] = response.status_code
                _assert_no_leak(response.data, f"{route}/{case}")
    finally:
        audit.recording = False
    served = {key for key, status in observed.items() if status == 200}
    assert served == {(route, "ok") for route in ROUTES}, observed
    assert {status for key, status in observed.items() if key not in served} == {404}, observed
    assert audit.touched([tampered.outside, Path("/etc/passwd")]) == []
    print(f"\n{len(observed) - len(served)} tampered rows refused with 404 across "
          f"{len(ROUTES)} routes; {len(served)} controls served")


@pytest.mark.parametrize("route", ROUTES)
def test_hostile_request_paths_test_client(app, route: str, tampered: Tampered,
                                           audit: OpenAudit) -> None:
    client = app.server.test_client()
    audit.recording = True
    shells = []
    try:
        for hostile in HOSTILE_PATHS:
            response = client.get(f"/files/{route}/{hostile}")
            _assert_no_leak(response.data, hostile)
            if response.status_code == 200:
                shells.append(hostile)
                # The client normalised the path to outside /files/ (e.g. /etc/passwd), where
                # Dash answers every page path with its HTML shell: not a file.
                assert response.mimetype == "text/html" and b"_dash-config" in response.data, \
                    (hostile, response.data[:200])
            else:
                assert response.status_code in (400, 404), (hostile, response.status_code)
    finally:
        audit.recording = False
    assert audit.touched([tampered.outside, Path("/etc/passwd")]) == []
    print(f"\n/files/{route}/: {len(HOSTILE_PATHS) - len(shells)} refused, "
          f"{len(shells)} normalised out of /files/ to the HTML shell: {shells}")


def test_hostile_request_paths_raw_socket(live: tuple[str, int], tampered: Tampered,
                                          audit: OpenAudit) -> None:
    audit.recording = True
    statuses: dict[int | None, int] = {}
    try:
        for route in ROUTES:
            for hostile in HOSTILE_PATHS + RAW_ONLY:
                status, response = raw_get(live, f"/files/{route}/{hostile}")
                _assert_no_leak(response, hostile)
                statuses[status] = statuses.get(status, 0) + 1
                if status == 200:  # only the shell, never a file (see the test-client case)
                    assert b"_dash-config" in response and b"image/" not in response.split(
                        b"\r\n\r\n")[0], (hostile, response[:300])
                else:
                    assert status in (400, 404), (hostile, response[:300])
    finally:
        audit.recording = False
    assert audit.touched([tampered.outside, Path("/etc/passwd")]) == []
    print(f"\nraw requests by status: {statuses}")


def test_a_normalising_client_gets_the_shell_not_a_file(live: tuple[str, int],
                                                        audit: OpenAudit) -> None:
    """`requests` (urllib3) removes dot segments before sending, as browsers do: the request
    becomes /etc/passwd, a page path, answered with the app's HTML shell and no file."""
    base = f"http://{live[0]}:{live[1]}"
    audit.recording = True
    seen = {}
    try:
        for route in ROUTES:
            response = requests.get(f"{base}/files/{route}/../../etc/passwd", timeout=30)
            seen[route] = (response.status_code, response.url.removeprefix(base))
            assert response.url.endswith("/etc/passwd") or response.status_code == 404
            assert response.status_code in (200, 404)
            if response.status_code == 200:
                assert response.headers["Content-Type"].startswith("text/html")
                assert "_dash-config" in response.text
            _assert_no_leak(response.content, route)
    finally:
        audit.recording = False
    assert audit.touched([Path("/etc/passwd")]) == []
    print(f"\nrequests, /files/<route>/../../etc/passwd -> (status, path sent): {seen}")


def test_safe_resolve_refuses_nul_and_escapes(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "x.png").write_bytes(b"x")
    for bad in ("x.png\x00.txt", "\x00", "..", "../root/../..", "/", "."):
        assert safe_resolve(tmp_path / "root", bad) is None, bad
    assert safe_resolve(tmp_path / "root\x00", "x.png") is None
