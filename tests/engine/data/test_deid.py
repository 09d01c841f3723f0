"""Uploaded DICOM is stored de-identified (PS3.15 basic profile); pixels and score unchanged."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pydicom
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from db.session import artifacts_root, cxr_home, session_scope
from tests.dicom_fixtures import make_dicom, twelve_bit

PATIENT = {"PatientName": "Doe^Jane", "PatientID": "BAR-123456", "PatientBirthDate": "19610203"}

KEY = b"0123456789abcdef" * 4  # an installation's UID key (CXR_HOME/deid_key)


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
    from engine.data.decode import decode_bytes
    from engine.inference.scoring import get_scorer
    from engine.inference.uploads import decode_upload, score_uploads

    run_id = trained_home["run_ids"][0]
    original = _patient_dicom(tmp_path, next(trained_home["data"].glob("NORMAL/*.jpeg")))
    decoded = decode_upload(original, "patient.dcm")
    result = score_uploads([decoded], [run_id])[0]
    stored = (artifacts_root() / result.upload.stored_path).read_bytes()
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
    removed = " ".join(result.upload.deidentified)
    assert all(keyword in removed for keyword in PATIENT) and "private" in removed
    with session_scope() as session:
        row = session.get(Upload, result.upload.id)
        assert json.loads(row.deidentified) == list(result.upload.deidentified)
        assert row.uploaded_by.startswith("cli:")
    from dashboard.score_views import result_card

    shown = str(result_card(decoded, result))
    assert "De-identified" in shown and "PatientID (0010,0020): emptied" in shown


# --- The action table: PS3.15 Table E.1-1 as dicom-anonymizer ships it -----------------------

NAME, MRN, BIRTH = "DOE^JOHN", "MRN123456", "19650101"
PLANTED = f"{NAME} {MRN}"
MARKERS = (b"DOE^JOHN", b"DOE JOHN", b"MRN123456", b"19650101", b"DOEJOHN")
# Permitted outcomes of each of the table's action codes (PS3.15 E.1-1).
PERMITTED = {"D_TAGS": "D", "Z_TAGS": "Z", "X_TAGS": "X", "U_TAGS": "U", "Z_D_TAGS": "ZD",
             "X_Z_TAGS": "XZ", "X_D_TAGS": "XD", "X_Z_D_TAGS": "XZD", "X_Z_U_STAR_TAGS": "XZDU"}
# A sequence outside the table: its items are cleaned by the same rules.
HOLDER = "AnatomicRegionSequence"
# One stand-in for each masked (repeating group) entry of the table.
MASKED_STANDINS = {(0x5000, 0, 0xFF00, 0): (0x50020005, "US"),
                   (0x6000, 0x4000, 0xFF00, 0xFFFF): (0x60024000, "LT"),
                   (0x6000, 0x3000, 0xFF00, 0xFFFF): (0x60023000, "OW")}


def _table_entries() -> list[tuple[int, str, str]]:
    """(tag, VR, permitted outcomes) for every attribute of the table a dataset can carry."""
    from dicomanonymizer.dicom_anonymization_databases import dicomfields_2026c as table
    from pydicom.datadict import dictionary_has_tag, dictionary_VR

    entries = []
    for category, permitted in PERMITTED.items():
        for entry in getattr(table, category):
            if len(entry) == 4:
                tag, vr = MASKED_STANDINS[entry]
            else:
                tag = (entry[0] << 16) | entry[1]
                vr = dictionary_VR(tag).split(" or ")[0] if dictionary_has_tag(tag) else "LO"
            if tag >> 16 not in (0x0000, 0x0002):  # command and file meta groups: not dataset
                entries.append((tag, vr, permitted))
    return entries


def _planted_value(vr: str, tag: int) -> object:
    text = {"AE": "DOEJOHN", "CS": "DOEJOHN", "DA": BIRTH, "TM": "101010",
            "DT": BIRTH + "101010", "AS": "060Y", "DS": "12.5", "IS": "7",
            "UI": f"1.2.3.{BIRTH}", "UR": f"http://example.org/{MRN}", "AT": 0x00100010}
    if vr in text:
        return text[vr]
    if vr in ("US", "SS", "UL", "SL", "UV", "SV"):
        return 7
    if vr in ("FL", "FD"):
        return 1.5
    if vr in ("OB", "OW", "UN", "OF", "OD", "OL", "OV"):
        return f"{MRN}{BIRTH}".encode()[:16]
    if vr == "SQ":
        item = Dataset()
        item.CodeMeaning = PLANTED
        return [item]
    return PLANTED


def _fill(dataset: Dataset, entries: list[tuple[int, str, str]]) -> None:
    for tag, vr, _ in entries:
        dataset.add_new(tag, vr, _planted_value(vr, tag))


def _table_dicom(tmp_path: Path) -> tuple[bytes, list[tuple[int, str, str]]]:
    gray = (np.arange(96 * 80) % 251).astype(np.uint8).reshape(96, 80)
    dataset = pydicom.dcmread(make_dicom(tmp_path / "table.dcm", gray, body_part="CHEST"))
    entries = _table_entries()
    _fill(dataset, entries)
    holder = Dataset()
    _fill(holder, entries)
    dataset[HOLDER] = pydicom.DataElement(HOLDER, "SQ", [holder])
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=False)
    return buffer.getvalue(), entries


def _outcome(dataset: Dataset, tag: int, vr: str) -> str:
    """Which of X, Z, D, U the attribute at `tag` went through (a new UID is a D or a U)."""
    if tag not in dataset:
        return "X"
    element = dataset[tag]
    if element.is_empty:
        return "Z"
    original = _planted_value(vr, tag)
    if vr == "SQ":
        return "D"  # kept, its items cleaned (checked by the free-text test)
    assert element.value != original, f"{element}: kept as it was"
    return "DU" if vr == "UI" else "D"


def test_every_table_attribute_gets_its_action_at_every_depth(tmp_path: Path) -> None:
    from dicomanonymizer.dicom_anonymization_databases import dicomfields_2026c as table

    from engine.data.deid import deidentify

    original, entries = _table_dicom(tmp_path)
    assert (Tag(HOLDER).group, Tag(HOLDER).element) not in table.ALL_TAGS
    assert len(entries) > 600
    stored, removed = deidentify(original, "table.dcm", key=KEY)
    kept = pydicom.dcmread(io.BytesIO(stored))
    for dataset in (kept, kept[HOLDER].value[0]):
        for tag, vr, permitted in entries:
            outcome = _outcome(dataset, tag, vr)
            assert set(outcome) & set(permitted), f"{Tag(tag)} {vr}: {outcome}, not {permitted}"
            if vr == "UI" and outcome == "DU":
                assert pydicom.uid.UID(dataset[tag].value).is_valid
    assert kept.file_meta.MediaStorageSOPInstanceUID == kept.SOPInstanceUID
    assert kept.SOPInstanceUID != pydicom.dcmread(io.BytesIO(original)).SOPInstanceUID
    assert deidentify(original, "table.dcm", key=KEY)[0] == stored  # re-uploads dedupe
    assert "PatientName (0010,0010): emptied" in removed
    for marker in MARKERS:
        assert marker not in stored, marker


# --- Free text anywhere, file meta, preamble -----------------------------------------------

TEXT_VRS = ("LO", "LT", "ST", "UT", "SH", "PN", "UC")


def _outside_table() -> tuple[list[str], list[str]]:
    """(text attributes, sequences) of pydicom's dictionary that Table E.1-1 does not list."""
    from dicomanonymizer.dicom_anonymization_databases import dicomfields_2026c as table
    from pydicom.datadict import DicomDictionary

    listed = {(group << 16) | element for group, element, *_ in table.ALL_TAGS}
    text, sequences = [], []
    for tag, (vr, _vm, _name, retired, keyword) in sorted(DicomDictionary.items()):
        if retired or not keyword or tag in listed or tag >> 16 in (0x0000, 0x0002, 0x0012):
            continue
        if vr in TEXT_VRS:
            text.append(keyword)
        elif vr == "SQ":
            sequences.append(keyword)
    return text, sequences


TEXT_KEYWORDS, SEQUENCE_KEYWORDS = _outside_table()


def _with_planted_text(gray: np.ndarray, tmp_path: Path, keywords: list[str],
                       nesting: list[str]) -> bytes:
    """A chest DICOM whose every attribute in `keywords` holds the planted name, at the top and
    inside each of the nested sequences `nesting` (one inside the other)."""
    dataset = pydicom.dcmread(make_dicom(tmp_path / "planted.dcm", gray, body_part="CHEST",
                                         patient_name=NAME))
    layers = [dataset]
    for keyword in nesting:
        item = Dataset()
        setattr(layers[-1], keyword, [item])
        layers.append(item)
    for layer in layers:
        for keyword in keywords:
            setattr(layer, keyword, PLANTED)
        layer.add_new(0x00991010, "LO", PLANTED)  # private, without a creator
    meta = dataset.file_meta
    meta.SourceApplicationEntityTitle = "DOEJOHN"
    meta.SendingApplicationEntityTitle = "DOEJOHN"
    meta.ImplementationVersionName = "DOEJOHN"
    dataset.preamble = PLANTED.encode().ljust(128, b"\0")
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=False)
    assert b"MRN123456" in buffer.getvalue()
    return buffer.getvalue()


def _gray() -> np.ndarray:
    return ((np.arange(128 * 112) * 7) % 256).astype(np.uint8).reshape(128, 112)


def test_planted_name_in_any_text_attribute_does_not_survive(tmp_path: Path) -> None:
    from engine.data.decode import decode_bytes
    from engine.data.deid import deidentify

    assert len(TEXT_KEYWORDS) > 400 and {"ConsultingPhysicianName", "ReviewerName"}.isdisjoint(
        TEXT_KEYWORDS)  # those two are the table's, checked above
    original = _with_planted_text(_gray(), tmp_path, TEXT_KEYWORDS,
                                  ["ViewCodeSequence", "AnatomicRegionSequence"])
    stored, removed = deidentify(original, "planted.dcm", key=KEY)
    for marker in MARKERS:
        assert marker not in stored, marker
    assert np.array_equal(decode_bytes(stored, "stored.dcm"), _gray())
    kept = pydicom.dcmread(io.BytesIO(stored))
    assert "SourceApplicationEntityTitle" not in kept.file_meta
    assert kept.preamble == b"\0" * 128
    assert any("(free text)" in line for line in removed)


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(keywords=st.lists(st.sampled_from(TEXT_KEYWORDS), min_size=1, max_size=12, unique=True),
       nesting=st.lists(st.sampled_from(SEQUENCE_KEYWORDS), max_size=3))
def test_planted_name_never_survives_any_layout(tmp_path: Path, keywords: list[str],
                                                nesting: list[str]) -> None:
    from engine.data.decode import decode_bytes
    from engine.data.deid import deidentify

    stored, _ = deidentify(_with_planted_text(_gray(), tmp_path, keywords, nesting), "p.dcm",
                           key=KEY)
    for marker in MARKERS:
        assert marker not in stored, (marker, keywords, nesting)
    assert np.array_equal(decode_bytes(stored, "stored.dcm"), _gray())


def test_attributes_decoding_needs_are_kept(tmp_path: Path) -> None:
    """Rescale, window, VOI and modality LUTs, spacing, modality, body part: kept as they are,
    and the stored copy decodes to the same pixels."""
    from engine.data.decode import decode_bytes
    from engine.data.deid import deidentify

    pixels = twelve_bit(_gray())
    path = make_dicom(tmp_path / "lut.dcm", pixels, photometric="MONOCHROME1", bits_stored=12,
                      rescale=(2.0, -10.0), window=(3000.0, 5000.0), body_part="CHEST")
    dataset = pydicom.dcmread(path)
    dataset.PixelSpacing = [0.139, 0.139]
    dataset.ImagerPixelSpacing = [0.14, 0.14]
    dataset.VOILUTFunction = "LINEAR"
    voi = Dataset()
    voi.LUTDescriptor = [256, 0, 12]
    voi.add_new("LUTData", "US", list(range(0, 4096, 16)))
    voi.LUTExplanation = PLANTED
    dataset.VOILUTSequence = [voi]
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=False)
    stored, _ = deidentify(buffer.getvalue(), "lut.dcm", key=KEY)
    kept = pydicom.dcmread(io.BytesIO(stored))
    for keyword in ("Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit",
                    "PixelRepresentation", "SamplesPerPixel", "PhotometricInterpretation",
                    "RescaleSlope", "RescaleIntercept", "WindowCenter", "WindowWidth",
                    "VOILUTFunction", "PixelSpacing", "ImagerPixelSpacing", "Modality",
                    "BodyPartExamined", "SOPClassUID", "PixelData"):
        assert kept[keyword].value == dataset[keyword].value, keyword
    assert kept.VOILUTSequence[0].LUTData == voi.LUTData
    assert "LUTExplanation" not in kept.VOILUTSequence[0]
    assert np.array_equal(decode_bytes(stored, "a.dcm"), decode_bytes(buffer.getvalue(), "b"))



def test_new_uids_are_keyed_per_installation(tmp_path: Path) -> None:
    """Whoever holds the original UID (the sending PACS, the next recipient) cannot recompute
    the stored one without this installation's key, so a stored file cannot be linked back to
    its study; within one installation the mapping is stable (re-uploads deduplicate)."""
    import uuid

    import pydicom

    from engine.data.deid import deidentify, new_uid

    path = make_dicom(tmp_path / "a.dcm", _gray())
    original = pydicom.dcmread(path).SOPInstanceUID
    stored = pydicom.dcmread(io.BytesIO(deidentify(path.read_bytes(), "a.dcm", key=KEY)[0]))
    other = pydicom.dcmread(io.BytesIO(deidentify(path.read_bytes(), "a.dcm",
                                                  key=b"f" * 64)[0]))
    assert stored.SOPInstanceUID == new_uid(original, KEY) != other.SOPInstanceUID
    unkeyed = uuid.uuid5(uuid.uuid5(uuid.NAMESPACE_URL, "cxr-lens:deid"), original).int
    assert stored.SOPInstanceUID != f"2.25.{unkeyed}" and original not in str(stored)
    assert stored.SOPInstanceUID.startswith("2.25.") and len(stored.SOPInstanceUID) <= 64


def test_private_attributes_are_counted_and_removed(tmp_path: Path) -> None:
    from engine.data.deid import deidentify

    path = make_dicom(tmp_path / "private.dcm", np.full((64, 64), 100, dtype=np.uint8))
    dataset = pydicom.dcmread(path)
    block = dataset.private_block(0x0009, "CXR TEST", create=True)
    block.add_new(0x01, "LO", "site secret")
    block.add_new(0x02, "LO", "another secret")
    buffer = io.BytesIO()
    dataset.save_as(buffer)
    stored, removed = deidentify(buffer.getvalue(), "private.dcm", key=KEY)
    # Two values and their creator element.
    assert removed[-1] == "3 private attribute(s): removed"
    assert not any(element.tag.is_private for element in pydicom.dcmread(io.BytesIO(stored)))
    assert b"secret" not in stored
    assert not any("private" in line for line in deidentify(
        make_dicom(tmp_path / "plain.dcm", np.zeros((64, 64), np.uint8)).read_bytes(),
        "plain.dcm", key=KEY)[1])


def test_dummies_are_valid_for_their_vr_and_carry_nothing() -> None:
    """A D (dummy) action leaves a value valid for the VR, none of the original, and binary
    dummies all zero bytes."""
    from pydicom.dataelem import DataElement
    from pydicom.valuerep import validate_value

    from engine.data.deid import _dummy

    originals = {"DA": "20240131", "TM": "101500", "DT": "20240131101500", "PN": "Doe^Jane",
                 "AS": "045Y", "DS": "12.5", "IS": "42", "CS": "SECRET", "AE": "HOSPITALAE",
                 "UR": "http://hospital.example/p/1", "LO": "St Mary", "SH": "ward 5",
                 "OB": b"\x01\x02", "OW": b"\x01\x02", "UN": b"\x01\x02",
                 "US": 7, "SS": -7, "UL": 70000, "SL": -70000, "FL": 1.5, "FD": 2.5}
    for vr, original in originals.items():
        value = _dummy(DataElement(0x00091001, vr, original), KEY)
        validate_value(vr, value, validation_mode=2)  # raises when invalid for the VR
        assert value != original, vr
        if isinstance(value, bytes):
            assert value and set(value) == {0}, vr
        if vr in ("US", "SS", "UL", "SL", "FL", "FD"):
            assert value == 0, vr
    assert _dummy(DataElement(0x00091001, "DA", "20240131"), KEY) == "19000101"
