"""De-identification of uploaded DICOM files: the DICOM PS3.15 Annex E basic profile.

The action table is PS3.15 Table E.1-1 as `dicom-anonymizer` ships it (one Python list of tags
per action code, kept up to date with the standard's editions); pydicom does the reading and
writing. Where the table allows several actions, the strictest is taken: X (remove) whenever it
is allowed, else Z (keep, emptied), D (a dummy value) or U (a UID derived by a one-way hash,
the same within and across files, the original not recoverable). The table applies at every
depth of nested sequences. Beyond the table:

- every free-text or person-name attribute (LO, LT, ST, UT, UC, SH, PN) and every attribute of
  unknown VR (UN) is removed: no such attribute is needed to decode or check an image;
- private attributes are removed;
- the file meta is rebuilt from the SOP class, the new SOP instance UID and the transfer syntax
  (no application entity titles, no source implementation name), and the preamble is zeroed.

Pixel data and the attributes decoding needs (Rows, Columns, bit depths, photometric
interpretation, rescale, window, LUTs, spacing, modality, body part) are numeric or code
strings outside the table and are kept as they are. Text burned into the pixels is not found
this way.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import uuid

import pydicom
from dicomanonymizer.dicom_anonymization_databases import dicomfields_2026c as table_e1_1
from pydicom import __version_info__
from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.tag import BaseTag
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID

from db.files import key_file
from db.session import cxr_home
from engine.data.decode import DecodeError

# Table E.1-1's action codes (as dicom-anonymizer groups them) -> the action taken here.
STRICTEST = {"D_TAGS": "D", "Z_TAGS": "Z", "X_TAGS": "X", "U_TAGS": "U", "Z_D_TAGS": "Z",
             "X_Z_TAGS": "X", "X_D_TAGS": "X", "X_Z_D_TAGS": "X", "X_Z_U_STAR_TAGS": "X"}
FREE_TEXT_VRS = frozenset({"LO", "LT", "ST", "UT", "UC", "SH", "PN", "UN"})
ACTION_WORDS = {"X": "removed", "Z": "emptied", "D": "replaced by a dummy value",
                "U": "replaced", "T": "removed (free text)"}
UID_KEY_FILE = "deid_key"
BASIC_PROFILE_CODE = ("113100", "DCM", "Basic Application Confidentiality Profile")
METHOD = "CXR Lens: PS3.15 basic profile; free text, private tags removed"
# A dummy per VR for D: valid for the VR, carrying nothing of the original.
DUMMIES = {"DA": "19000101", "TM": "000000", "DT": "19000101000000", "PN": "Anonymized",
           "AS": "000Y", "DS": "0", "IS": "0", "CS": "ANONYMIZED", "AE": "ANONYMIZED",
           "UR": "urn:anonymized", "OB": b"\0\0", "OW": b"\0\0", "UN": b"\0\0",
           "OF": b"\0" * 8, "OD": b"\0" * 8, "OL": b"\0" * 8, "OV": b"\0" * 8}


def _table() -> tuple[dict[int, str], list[tuple[int, int, int, int, str]]]:
    """(exact tag -> action, [(group, element, group mask, element mask, action)])."""
    exact: dict[int, str] = {}
    masked = []
    for category, action in STRICTEST.items():
        for entry in getattr(table_e1_1, category):
            if len(entry) == 2:
                exact[(entry[0] << 16) | entry[1]] = action
            else:
                masked.append((*entry, action))
    return exact, masked


EXACT_ACTIONS, MASKED_ACTIONS = _table()


def table_action(tag: BaseTag) -> str | None:
    """This module's action for an attribute of Table E.1-1 (X, Z, D or U); None outside it."""
    if int(tag) in EXACT_ACTIONS:
        return EXACT_ACTIONS[int(tag)]
    for group, element, group_mask, element_mask, action in MASKED_ACTIONS:
        if (tag.group & group_mask == group & group_mask
                and tag.element & element_mask == element & element_mask):
            return action
    return None


def uid_key() -> bytes:
    """This installation's key for new UIDs (CXR_HOME/deid_key, made once, 0600)."""
    return key_file(cxr_home() / UID_KEY_FILE)


def new_uid(original: str, key: bytes) -> str:
    # Keyed, one-way and deterministic: within one installation the same original UID maps to
    # the same new one (a study's instances stay together, a re-upload stores the same bytes);
    # without the key, nobody holding the original UID can recompute the new one and link the
    # stored file back to the study. A UUID under the 2.25 root, as PS3.5 B.2 allows.
    digest = hmac.new(key, str(original).encode(), hashlib.sha256).digest()
    return f"2.25.{uuid.UUID(bytes=digest[:16], version=4).int}"


def _dummy(element: DataElement, key: bytes) -> object:
    if element.VR == "UI":
        return new_uid(element.value, key)
    if element.VR in DUMMIES:
        return DUMMIES[element.VR]
    if element.VR in ("US", "SS", "UL", "SL", "FL", "FD", "UV", "SV"):
        return 0
    return "ANONYMIZED"


def _apply(dataset: Dataset, element: DataElement, action: str, key: bytes) -> None:
    if action in ("X", "T"):
        del dataset[element.tag]
    elif action == "Z":
        element.value = [] if element.VR == "SQ" else None
    elif action == "U":
        element.value = ([new_uid(v, key) for v in element.value] if element.VM > 1
                         else new_uid(element.value, key))
    elif element.VR != "SQ":  # D; a sequence keeps its items, cleaned by the same rules
        element.value = _dummy(element, key)


def _clean(dataset: Dataset, done: dict[str, str], key: bytes) -> None:
    """Apply the table and the free-text rule to `dataset` and every nested item."""
    for tag in list(dataset.keys()):
        element = dataset[tag]
        if tag.is_private:
            continue  # removed whole afterwards
        action = table_action(tag) or ("T" if element.VR in FREE_TEXT_VRS else None)
        if action is None or (action == "Z" and element.value in (None, "", b"", [])):
            pass
        else:
            _apply(dataset, element, action, key)
            name = keyword_for_tag(tag) or "attribute"
            done[name + str(tag)] = f"{name} {tag}: {ACTION_WORDS[action]}"
        if tag in dataset and dataset[tag].VR == "SQ":
            for item in dataset[tag].value:
                _clean(item, done, key)


def _mark(dataset: Dataset) -> None:
    dataset.PatientIdentityRemoved = "YES"
    dataset.DeidentificationMethod = METHOD
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = BASIC_PROFILE_CODE
    dataset.DeidentificationMethodCodeSequence = [code]


def _new_file_meta(dataset: Dataset, key: bytes) -> FileMetaDataset:
    """Only what a reader needs: SOP class and instance, transfer syntax; pydicom fills in its
    own implementation class and version (the source's, and its AE titles, are dropped)."""
    old = getattr(dataset, "file_meta", None) or FileMetaDataset()
    meta = FileMetaDataset()
    sop_class = dataset.get("SOPClassUID") or old.get("MediaStorageSOPClassUID")
    if sop_class:
        meta.MediaStorageSOPClassUID = sop_class
    old_instance = old.get("MediaStorageSOPInstanceUID")
    sop_instance = dataset.get("SOPInstanceUID") or (new_uid(old_instance, key)
                                                     if old_instance else None)
    if sop_instance:
        meta.MediaStorageSOPInstanceUID = sop_instance
    if "TransferSyntaxUID" in old:
        meta.TransferSyntaxUID = old.TransferSyntaxUID
    meta.FileMetaInformationVersion = b"\x00\x01"
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = f"PYDICOM {'.'.join(__version_info__)}"
    return meta


def deidentify(data: bytes, name: str, key: bytes | None = None) -> tuple[bytes, list[str]]:
    """A DICOM file's bytes -> (de-identified bytes, what was removed or replaced).

    Works in memory: the original bytes are never written anywhere. The same input gives the
    same output, byte for byte.
    """
    try:
        dataset = pydicom.dcmread(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for a bad file
        raise DecodeError(f"{name}: cannot be read as DICOM for de-identification "
                          f"({type(exc).__name__})") from exc
    key = key or uid_key()
    done: dict[str, str] = {}
    _clean(dataset, done, key)
    private = sum(1 for element in dataset.iterall() if element.tag.is_private)
    dataset.remove_private_tags()
    dataset.file_meta = _new_file_meta(dataset, key)
    dataset.preamble = b"\0" * 128
    _mark(dataset)
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=False)
    removed = sorted(set(done.values()))
    if private:
        removed.append(f"{private} private attribute(s): removed")
    return buffer.getvalue(), removed
