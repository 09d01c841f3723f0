"""Uploaded DICOM is stored de-identified (PS3.15 basic profile); pixels and score unchanged."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image

from db.session import artifacts_root, cxr_home, session_scope
from tests.dicom_fixtures import make_dicom

PATIENT = {"PatientName": "Doe^Jane", "PatientID": "BAR-123456", "PatientBirthDate": "19610203"}


def _patient_dicom(tmp_path: Path, jpeg: Path) -> bytes:
    with Image.open(jpeg) as image:
        gray = np.asarray(image.convert("L").resize((256, 256)))
    path = make_dicom(tmp_path / "patient.dcm", gray, patient_name=PATIENT["PatientName"])
    dataset = pydicom.dcmread(path)
    dataset.PatientID = PATIENT["PatientID"]
    dataset.PatientBirthDate = PATIENT["PatientBirthDate"]
    dataset.BodyPartExamined = "CHEST"
    dataset.InstitutionName = "St Elsewhere"
    dataset.add_new(0x00991010, "LO", "private BAR-123456")
    buffer = io.BytesIO()
    dataset.save_as(buffer)
    return buffer.getvalue()


def test_stored_dicom_is_deidentified_with_identical_pixels_and_score(
        trained_home: dict, tmp_path: Path) -> None:
    from db.models import Upload
    from engine.decode import decode_bytes
    from engine.scoring import get_scorer
    from engine.uploads import score_upload_bytes

    run_id = trained_home["run_ids"][0]
    original = _patient_dicom(tmp_path, next(trained_home["data"].glob("NORMAL/*.jpeg")))
    result = score_upload_bytes(original, "patient.dcm", [run_id])
    stored = (artifacts_root() / result.stored_path).read_bytes()
    kept = pydicom.dcmread(io.BytesIO(stored))
    for keyword in PATIENT:
        assert not kept.get(keyword), keyword  # emptied (type 2) or gone
    assert b"BAR-123456" not in stored and b"Doe^Jane" not in stored
    assert "InstitutionName" not in kept and not list(kept.private_creators(0x0099))
    assert kept.PatientIdentityRemoved == "YES"
    assert kept.PixelData == pydicom.dcmread(io.BytesIO(original)).PixelData  # byte-identical
    rescored = get_scorer(run_id).score_batch([decode_bytes(stored, "stored.dcm")])[0]
    assert abs(rescored.probability - result.scores[0].probability) < 1e-6
    # Nothing under CXR_HOME holds the original's identifiers (the original was never written).
    for path in cxr_home().rglob("*"):
        if path.is_file():
            assert b"BAR-123456" not in path.read_bytes(), path
    removed = " ".join(result.deidentified)
    assert all(keyword in removed for keyword in PATIENT) and "private" in removed
    with session_scope() as session:
        row = session.get(Upload, result.upload_id)
        assert json.loads(row.deidentified) == list(result.deidentified)
        assert row.uploaded_by.startswith("cli:")
    from dashboard.score_views import result_card

    shown = str(result_card(result))
    assert "De-identified" in shown and "PatientID (0010,0020): emptied" in shown
