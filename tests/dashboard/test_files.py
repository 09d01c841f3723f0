"""The file route: database ids in, files out, and only from inside the registered roots."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import insert

from dashboard.files import safe_resolve, thumbs_dir
from db import evaluations, gallery
from db.models import Dataset, Image
from db.session import session_scope


def _first_prediction(trained_home: dict):
    evaluation_id = evaluations.evaluation_id_for(trained_home["run_ids"][0], "test")
    return gallery.cell_images(evaluation_id, "tp", 0.0, limit=1).items[0]


def test_images_cams_and_cached_thumbnails(client, trained_home: dict) -> None:
    item = _first_prediction(trained_home)
    original = client.get(f"/files/image/{item.image_id}")
    assert original.status_code == 200 and original.mimetype == "image/jpeg"
    assert original.headers["X-Content-Type-Options"] == "nosniff"
    thumb = client.get(f"/files/thumb/{item.image_id}")
    assert thumb.status_code == 200 and thumb.data.startswith(b"\x89PNG")
    cached = thumbs_dir() / f"image-{item.image_id}.png"
    assert cached.is_file()
    mtime = cached.stat().st_mtime_ns
    assert client.get(f"/files/thumb/{item.image_id}").data == thumb.data
    assert cached.stat().st_mtime_ns == mtime  # served from the cache, not rebuilt
    cam = client.get(f"/files/cam/{item.prediction_id}")
    assert cam.status_code == 200 and cam.data.startswith(b"\x89PNG")
    assert client.get(f"/files/cam-thumb/{item.prediction_id}").status_code == 200


@pytest.mark.parametrize("path", [
    "/files/image/999999", "/files/cam/999999", "/files/upload/999999",
    "/files/upload-cam/999999", "/files/image/../../etc/passwd", "/files/image//etc/passwd",
    "/files/image/%2Fetc%2Fpasswd", "/files/image/..%2F..%2Fetc%2Fpasswd",
    "/files/image/-1", "/files/image/1.5", "/files/thumb/../cxr.db",
])
def test_unknown_ids_and_paths_are_refused(client, path: str) -> None:
    response = client.get(path)
    assert b"root:x:0:0" not in response.data and b"SQLite format" not in response.data
    if "/../" in path:
        # The URL is normalised before routing: /files/image/../../etc/passwd is /etc/passwd,
        # which no file route matches; what answers is the app shell (HTML), never a file.
        assert response.status_code == 404 or response.mimetype == "text/html"
    else:
        assert response.status_code == 404


def test_rows_that_point_outside_their_root_are_refused(client, trained_home: dict,
                                                        tmp_path: Path) -> None:
    """A tampered database row cannot make the route read outside the dataset root."""
    root = tmp_path / "dataset"
    (root / "NORMAL").mkdir(parents=True)
    inside = root / "NORMAL" / "ok.png"
    inside.write_bytes((trained_home["data"] / "NORMAL").iterdir().__next__().read_bytes())
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"\x89PNG secret")
    os.symlink(outside, root / "NORMAL" / "link.png")
    rows = {"ok": "NORMAL/ok.png", "dotdot": "../secret.png", "absolute": str(outside),
            "symlink": "NORMAL/link.png"}
    with session_scope(write=True) as session:
        dataset_id = session.execute(insert(Dataset).returning(Dataset.id), [{
            "name": "tampered", "root": str(root)}]).scalar_one()
        image_ids = {key: session.execute(insert(Image).returning(Image.id), [{
            "dataset_id": dataset_id, "rel_path": rel, "sha256": key, "label": 0,
            "source_folder": "", "patient_id": key}]).scalar_one() for key, rel in rows.items()}
    try:
        assert client.get(f"/files/image/{image_ids['ok']}").status_code == 200
        for key in ("dotdot", "absolute", "symlink"):
            response = client.get(f"/files/image/{image_ids[key]}")
            assert response.status_code == 404, key
            assert b"secret" not in response.data
    finally:
        with session_scope(write=True) as session:
            session.execute(Dataset.__table__.delete().where(Dataset.id == dataset_id))


def test_safe_resolve(tmp_path: Path) -> None:
    (tmp_path / "root" / "a").mkdir(parents=True)
    (tmp_path / "root" / "a" / "x.png").write_bytes(b"x")
    (tmp_path / "outside.png").write_bytes(b"y")
    root = tmp_path / "root"
    assert safe_resolve(root, "a/x.png") == (root / "a" / "x.png").resolve()
    assert safe_resolve(root, "a/../a/x.png") is not None
    for bad in ("../outside.png", str(tmp_path / "outside.png"), "a", "missing.png", "",
                "a/../../outside.png"):
        assert safe_resolve(root, bad) is None, bad
    os.symlink(tmp_path / "outside.png", root / "a" / "escape.png")
    assert safe_resolve(root, "a/escape.png") is None
