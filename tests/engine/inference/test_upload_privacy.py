"""An upload keeps no identifier: identifiers planted in a JPEG (EXIF ImageDescription, Artist,
GPS; COM), a PNG (tEXt, iTXt, zTXt), a DICOM (tags, free text, private, file meta) and in the
uploaded file name are absent from every stored byte under CXR_HOME, from every database row,
from the audit and from every HTTP response of the Score page flow but the result card that
shows the uploader their own file name."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
import requests
from PIL import Image, PngImagePlugin
from sqlalchemy import select

from tests.auth_helpers import admin_session
from tests.dicom_fixtures import make_dicom
from tests.score_server import SCORE_HISTORY, SCORE_RESULTS, data_url, live_dashboard, post_upload

FILE_STEM = "DOE_JOHN_MRN123456_19650101"
MARKERS = ("DOE^JOHN", "DOE JOHN", "DOE_JOHN", "Doe John", "MRN123456", "19650101",
           "GPSMRN77", "St Elsewhere")
GPS_IFD, GPS_AREA = 0x8825, 27


def _gray(source: Path, size: int = 256) -> np.ndarray:
    with Image.open(source) as image:
        return np.asarray(image.convert("L").resize((size, size)))


def _jpeg(gray: np.ndarray) -> bytes:
    exif = Image.Exif()
    exif[0x010E] = "DOE^JOHN MRN123456 19650101"  # ImageDescription
    exif[0x013B] = "Doe John"  # Artist
    exif[GPS_IFD] = {1: "N", 2: (40.0, 26.0, 46.0), 3: "W", 4: (79.0, 58.0, 56.0),
                     GPS_AREA: b"ASCII\0\0\0GPSMRN77"}
    buffer = io.BytesIO()
    Image.fromarray(gray).save(buffer, format="JPEG", exif=exif, comment=b"DOE JOHN MRN123456")
    return buffer.getvalue()


def _png(gray: np.ndarray) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "DOE^JOHN")  # tEXt
    info.add_text("Comment", "MRN123456 19650101", zip=True)  # zTXt
    info.add_itxt("Description", "Doe John, St Elsewhere")  # iTXt
    buffer = io.BytesIO()
    Image.fromarray(gray).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def _dicom(gray: np.ndarray, folder: Path) -> bytes:
    dataset = pydicom.dcmread(make_dicom(folder / "source.dcm", gray, patient_name="DOE^JOHN",
                                         body_part="CHEST"))
    dataset.PatientID, dataset.PatientBirthDate = "MRN123456", "19650101"
    dataset.ConsultingPhysicianName = "Doe John"
    dataset.ReasonForTheRequestedProcedure = "DOE JOHN MRN123456 cough"
    dataset.InstitutionName = "St Elsewhere"
    dataset.ImageComments = "patient DOE^JOHN"
    region = pydicom.Dataset()
    region.CodeMeaning = "DOE^JOHN chest"
    dataset.AnatomicRegionSequence = [region]
    dataset.add_new(0x00991010, "LO", "MRN123456")
    dataset.file_meta.SourceApplicationEntityTitle = "DOE_JOHN"
    buffer = io.BytesIO()
    dataset.save_as(buffer)
    return buffer.getvalue()


def _without_metadata(png: bytes) -> list[bytes]:
    """The chunk types of a PNG."""
    chunks, offset = [], 8
    while offset < len(png):
        length = int.from_bytes(png[offset:offset + 4], "big")
        chunks.append(png[offset + 4:offset + 8])
        offset += 12 + length
    return chunks


def _leaks(text: str | bytes) -> list[str]:
    if isinstance(text, bytes):
        return [m for m in MARKERS if m.encode() in text]
    return [m for m in MARKERS if m in text]


def _database_rows() -> str:
    """Every row of every table, as text (the SQLite file is also read byte for byte)."""
    from db.models import Base
    from db.session import session_scope

    with session_scope() as session:
        return "\n".join(repr(tuple(row)) for table in Base.metadata.sorted_tables
                         for row in session.execute(select(table)).all())


@pytest.fixture(scope="module")
def server(trained_home: dict) -> Iterator[str]:
    with live_dashboard() as url:
        yield url


def _label_response(server: str, upload_id: int) -> requests.Response:
    pattern = {"type": "score-label", "upload": upload_id}
    key = json.dumps(pattern, separators=(",", ":"), sort_keys=True)
    return admin_session(server).post(f"{server}/_dash-update-component", json={
        "output": "score-label-status.children",
        "outputs": {"id": "score-label-status", "property": "children"},
        "inputs": [[{"id": pattern, "property": "value", "value": 1}]],
        "changedPropIds": [f"{key}.value"], "state": []}, timeout=60)


def test_planted_identifiers_are_stored_nowhere(server: str, trained_home: dict,
                                                tmp_path: Path) -> None:
    from db.audit import recent
    from engine.cli import main as cxr

    home: Path = trained_home["home"]
    sources = sorted((trained_home["data"] / "NORMAL").iterdir())
    files = {f"{FILE_STEM}.jpg": _jpeg(_gray(sources[5])),
             f"{FILE_STEM}.png": _png(_gray(sources[6])),
             f"{FILE_STEM}.dcm": _dicom(_gray(sources[7]), tmp_path)}
    for data in files.values():  # the identifiers are really there to begin with
        assert _leaks(data) or b"zTXt" in data
    responses = [admin_session(server).get(f"{server}/score", timeout=60)]
    upload = post_upload(server, [data_url(d) for d in files.values()], list(files))
    assert upload.status_code == 200, upload.text[:300]
    outputs = upload.json()["response"]
    results, history = json.dumps(outputs[SCORE_RESULTS]), json.dumps(outputs[SCORE_HISTORY])
    # The result cards show the uploader their own file names (this response only) ...
    assert results.count("score-probability") == 3 * len(trained_home["run_ids"])
    assert all(name in results for name in files)
    assert _leaks(re.sub(FILE_STEM + r"\.(jpg|png|dcm)", "", results)) == []
    assert _leaks(history) == []  # ... which nothing else repeats.
    upload_ids = sorted({int(i) for i in re.findall(r"/files/upload/(\d+)", results)})
    score_ids = re.findall(r"/files/upload-cam/(\d+)", results)
    assert len(upload_ids) == 3
    for path in [f"/files/upload/{i}" for i in upload_ids] + [
            f"/files/upload-cam/{i}" for i in score_ids]:
        response = admin_session(server).get(server + path, timeout=60)
        assert response.status_code == 200, path
        assert _leaks(response.content) == [] and _leaks(str(response.headers)) == [], path
        responses.append(response)
    responses += [_label_response(server, upload_ids[0]),
                  admin_session(server).get(f"{server}/score", timeout=60)]
    for response in responses:
        assert response.status_code == 200 and _leaks(response.content) == [], response.url

    # `cxr score` of a file under the same kind of name stores neither the name nor the tags.
    named = tmp_path / f"{FILE_STEM}-cli.dcm"
    named.write_bytes(_dicom(_gray(sources[8]), tmp_path))
    assert cxr(["score", str(named), "--json"]) == 0

    for path in home.rglob("*"):
        if path.is_file():
            assert _leaks(path.read_bytes()) == [], path
    assert _leaks(_database_rows()) == []
    assert _leaks(repr(recent(limit=10_000))) == []
    from db.uploads import get_upload

    for upload_id in upload_ids:
        stored = (home / "artifacts" / get_upload(upload_id).stored_path).read_bytes()
        if stored.startswith(b"\x89PNG"):
            assert _without_metadata(stored) == [b"IHDR", b"IDAT", b"IEND"]


def test_metadata_only_reupload_deduplicates(trained_home: dict) -> None:
    """The stored file is the pixels: the same image with other metadata is the same upload."""
    from engine.inference.uploads import score_upload_bytes

    gray = _gray(sorted((trained_home["data"] / "PNEUMONIA").iterdir())[9])
    plain = io.BytesIO()
    Image.fromarray(gray).save(plain, format="PNG")
    first = score_upload_bytes(_png(gray), "a.png", [trained_home["run_ids"][0]])
    second = score_upload_bytes(plain.getvalue(), "b.png", [trained_home["run_ids"][0]])
    assert second.upload.id == first.upload.id
    assert second.upload.stored_path == first.upload.stored_path


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    from db.session import dispose_engines
    from tests.conftest import create_postgres_database, postgres_admin_url

    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    else:
        admin = postgres_admin_url()
        if not admin:
            pytest.skip("CXR_TEST_POSTGRES_URL is not set (CI sets it and starts PostgreSQL)")
        yield create_postgres_database(admin)
    dispose_engines()


def test_migration_forgets_stored_file_names(store_url: str) -> None:
    """0013 drops uploads.original_name and the names in the "uploaded" audit rows; down gives
    0011's column the generated name."""
    from sqlalchemy import inspect, text

    from db import migrate
    from db.session import get_engine

    migrate.upgrade(store_url, "0011")
    with get_engine(store_url).begin() as connection:
        connection.execute(text(
            "INSERT INTO uploads (sha256, stored_path, original_name, file_format, size_bytes,"
            " created_at) VALUES (:sha, 'uploads/a.dcm', :name, 'DICOM', 10, :at)"),
            {"sha": "1" * 64, "name": f"{FILE_STEM}.dcm", "at": "2026-01-01 00:00:00"})
        for detail in (f"{FILE_STEM}.dcm (DICOM), 2 score(s)", f"odd {FILE_STEM}", None):
            connection.execute(text(
                "INSERT INTO audit_events (created_at, actor, action, target, detail) VALUES"
                " (:at, 'cli:ana', 'uploaded', 'upload 1', :detail)"),
                {"at": "2026-01-01 00:00:00", "detail": detail})
        connection.execute(text(
            "INSERT INTO audit_events (created_at, actor, action, target, detail) VALUES"
            " (:at, 'ana', 'reviewed', 'image 1', 'kept as it is')"),
            {"at": "2026-01-01 00:00:00"})
    migrate.upgrade(store_url)
    engine = get_engine(store_url)
    assert "original_name" not in {c["name"] for c in inspect(engine).get_columns("uploads")}
    with engine.connect() as connection:
        details = connection.execute(text(
            "SELECT detail FROM audit_events ORDER BY id")).scalars().all()
    assert details == ["DICOM, 2 score(s)", None, None, "kept as it is"]
    migrate.downgrade(store_url, "0011")
    with get_engine(store_url).connect() as connection:
        assert connection.execute(text("SELECT original_name FROM uploads")).scalar() == \
            "upload 1"
    migrate.upgrade(store_url)
