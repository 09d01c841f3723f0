"""Every bad input through the Score page's HTTP callback: a clear message, nothing stored,
no 500, and the server still scores a good image afterwards."""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image
from sqlalchemy import func, select

from db.models import Upload, UploadScore
from db.session import session_scope
from tests.auth_helpers import TEST_ADMIN, admin_session
from tests.score_server import data_url, live_dashboard, post_upload

LIMIT_MB = 2


def _pil_bytes(fmt: str, size: tuple[int, int] = (16, 16), mode: str = "L") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, format=fmt, optimize=fmt == "PNG")
    return buffer.getvalue()


def _fits() -> bytes:
    header = "SIMPLE  =                    T" + " " * 50 + "BITPIX  =                    8"
    return header.ljust(2880).encode()


@pytest.fixture(scope="module")
def server(trained_home: dict) -> Iterator[str]:
    saved = os.environ.get("CXR_MAX_UPLOAD_MB")
    os.environ["CXR_MAX_UPLOAD_MB"] = str(LIMIT_MB)
    try:
        with live_dashboard() as url:
            yield url
    finally:
        if saved is None:
            os.environ.pop("CXR_MAX_UPLOAD_MB", None)
        else:
            os.environ["CXR_MAX_UPLOAD_MB"] = saved


@pytest.fixture(scope="module")
def good_jpeg(trained_home: dict) -> bytes:
    return sorted((trained_home["data"] / "PNEUMONIA").iterdir())[20].read_bytes()


def _text(response: requests.Response) -> str:
    """The callback response as text, with JSON escapes (`\\/`) undone."""
    return json.dumps(response.json())


def _state(home: Path) -> tuple:
    with session_scope() as session:
        counts = (session.scalar(select(func.count()).select_from(Upload)),
                  session.scalar(select(func.count()).select_from(UploadScore)))
    folder = home / "artifacts" / "uploads"
    return counts, set(folder.rglob("*")) if folder.exists() else set()


def _bad_inputs(good_jpeg: bytes) -> list[tuple[str, str, str]]:
    """(case, upload payload, expected message) for every bad input in the issue."""
    bomb = _pil_bytes("PNG", (20_000, 20_000), "1")
    return [
        ("empty", "data:application/octet-stream;base64,", "empty file"),
        ("text.png", data_url(b"I am a text file wearing a .png name\n" * 20),
         "not a JPEG, PNG or DICOM"),
        ("truncated.jpeg", data_url(good_jpeg[: len(good_jpeg) // 2], "image/jpeg"),
         "corrupt or truncated"),
        ("bomb.png", data_url(bomb, "image/png"), "20000x20000 pixels is over"),
        ("tiff.png", data_url(_pil_bytes("TIFF"), "image/png"), "unsupported format TIFF"),
        ("gif.png", data_url(_pil_bytes("GIF"), "image/png"), "unsupported format GIF"),
        ("fits.png", data_url(_fits(), "image/png"), "unsupported format FITS"),
        ("badbase64.png", "data:image/png;base64,iVBORw0KGgo!!!not*base64", "not valid base64"),
        ("big.png", data_url(b"\x89PNG\r\n\x1a\n" + os.urandom(int(2.5 * 2**20)), "image/png"),
         f"over the {LIMIT_MB} MB upload limit"),
    ]


def test_every_bad_input_is_refused_then_a_good_image_scores(
        server: str, trained_home: dict, good_jpeg: bytes) -> None:
    home = trained_home["home"]
    for name, payload, expected in _bad_inputs(good_jpeg):
        before = _state(home)
        response = post_upload(server, [payload], [name])
        assert response.status_code == 200, (name, response.status_code, response.text[:300])
        body = _text(response)
        assert "score-error" in body and expected in body, (name, body[:500])
        assert f"{name}:" in body or name == "empty" and "empty:" in body
        assert "score-probability" not in body
        assert _state(home) == before, f"{name} stored something"

    # Several files at once: the bad one is reported, the good one is still scored.
    before_counts = _state(home)[0]
    response = post_upload(server, [data_url(b"nope"), data_url(good_jpeg, "image/jpeg")],
                           ["nope.png", "good.jpeg"])
    assert response.status_code == 200
    body = _text(response)
    assert "nope.png: not a JPEG, PNG or DICOM" in body
    assert body.count("score-probability") == len(trained_home["run_ids"])
    assert "/files/upload-cam/" in body
    counts = _state(home)[0]
    assert counts[1] == before_counts[1] + len(trained_home["run_ids"])


def test_request_over_flask_limit_gets_413_and_server_keeps_serving(
        server: str, good_jpeg: bytes, trained_home: dict) -> None:
    huge = "data:image/png;base64," + "A" * (LIMIT_MB * 10 * 2**20 + 1024)
    response = post_upload(server, [huge], ["huge.png"])
    assert response.status_code == 413
    assert "upload too large" in response.json()["error"]
    response = post_upload(server, [data_url(good_jpeg, "image/jpeg")], ["again.jpeg"],
                           run_ids=[trained_home["run_ids"][0]])
    assert response.status_code == 200 and response.text.count("score-probability") == 1


def test_uploaded_overlay_and_image_are_served(server: str, good_jpeg: bytes) -> None:
    body = _text(post_upload(server, [data_url(good_jpeg, "image/jpeg")], ["served.jpeg"]))
    cam = re.search(r"/files/upload-cam/\d+", body).group(0)
    image = re.search(r"/files/upload/\d+", body).group(0)
    for path in (cam, image):
        response = admin_session(server).get(server + path, timeout=30)
        assert response.status_code == 200
        assert Image.open(io.BytesIO(response.content)).size[0] > 0
    assert np.asarray(Image.open(io.BytesIO(admin_session(server).get(server + cam,
                                                                      timeout=30).content))
                      ).shape[2] == 3


def test_analyst_records_true_label_through_callback(server: str, good_jpeg: bytes) -> None:
    from db.uploads import get_upload

    body = _text(post_upload(server, [data_url(good_jpeg, "image/jpeg")], ["label-me.jpeg"]))
    upload_id = int(re.search(r"/files/upload/(\d+)", body).group(1))
    pattern = {"type": "score-label", "upload": upload_id}
    key = json.dumps(pattern, separators=(",", ":"), sort_keys=True)
    request = {
        "output": "score-label-status.children",
        "outputs": {"id": "score-label-status", "property": "children"},
        "inputs": [[{"id": pattern, "property": "value", "value": 1}]],
        "changedPropIds": [f"{key}.value"],
        "state": [],
    }
    response = admin_session(server).post(f"{server}/_dash-update-component", json=request,
                                          timeout=30)
    assert response.status_code == 200, response.text[:300]
    assert "true label PNEUMONIA" in _text(response)
    upload = get_upload(upload_id)
    assert upload.true_label == 1 and upload.labelled_by == TEST_ADMIN  # the signed-in user
