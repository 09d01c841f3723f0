"""Datasets: discover the Kaggle layout, register images, split by patient, load pixels.

A root is either Kaggle's `chest_xray/` (`train/`, `test/`, optional `val/`, each with `NORMAL/`
and `PNEUMONIA/`) or a folder that holds `NORMAL/` and `PNEUMONIA/` directly.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from db.datasets import ImageRecord, dataset_id_at, register_images, skip_kind
from db.models import LABEL_NAMES
from db.session import retry_on_conflict
from engine.data.decode import (
    HEAD_BYTES,
    IMAGE_EXTENSIONS,
    DecodeError,
    decode_image_file,
    is_dicom,
)
from engine.data.input_checks import input_problems
from engine.errors import UserError

SOURCE_FOLDERS = ("train", "val", "test")
SYNTHETIC_MARKER = "SYNTHETIC.txt"

_PERSON = re.compile(r"^(person\d+)_(bacteria|virus)_\d+$", re.IGNORECASE)
_SERIES = re.compile(r"^((?:NORMAL2-)?IM-\d+)-\d+$", re.IGNORECASE)


@dataclass(frozen=True)
class FileEntry:
    path: Path  # absolute
    rel_path: str  # relative to the dataset root, POSIX separators
    label: int
    source_folder: str


def parse_patient(file_name: str) -> tuple[str, str | None]:
    """Patient id and pneumonia subtype from a Kaggle file name.

    `person12_virus_33.jpeg` -> ("person12", "virus"); `NORMAL2-IM-0045-0001.jpeg` ->
    ("NORMAL2-IM-0045", None). Unknown names are their own patient.
    """
    stem = Path(file_name).stem
    match = _PERSON.match(stem)
    if match:
        return match.group(1).lower(), match.group(2).lower()
    match = _SERIES.match(stem)
    if match:
        return match.group(1).upper(), None
    return stem, None


def _has_classes(folder: Path) -> bool:
    return all((folder / name).is_dir() for name in LABEL_NAMES)


def discover(root: str | Path) -> list[FileEntry]:
    """Every candidate image file under `root`, with its label and source folder."""
    root = Path(root).expanduser()
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "does not exist"
        raise UserError(f"dataset folder {root} {what}; pass --data or set CXR_DATA")
    root = root.resolve()
    if _has_classes(root):
        sources = [("", root)]
    else:
        sources = [(name, root / name) for name in SOURCE_FOLDERS if _has_classes(root / name)]
    if not sources:
        raise UserError(
            f"{root} is not a chest X-ray dataset: expected train/ (and test/, optional val/) "
            "each holding NORMAL/ and PNEUMONIA/, or NORMAL/ and PNEUMONIA/ directly"
        )
    entries = []
    for source_folder, folder in sources:
        for label, class_name in enumerate(LABEL_NAMES):
            for path in _class_files(folder / class_name):
                if _looks_like_image(path):
                    rel = path.relative_to(root).as_posix()
                    entries.append(FileEntry(path, rel, label, source_folder))
    return entries


def _class_files(folder: Path) -> list[Path]:
    """Every file under a class folder, in subfolders too (their class is the folder's), in a
    stable order; hidden folders are left out and linked folders are not followed (no loops)."""
    found = []
    for directory, subfolders, files in os.walk(folder):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        found.extend(path for path in (Path(directory) / name for name in files)
                     if path.is_file())
    return sorted(found)


def _looks_like_image(path: Path) -> bool:
    if path.name.startswith(".") or path.name.endswith("_mask.png"):
        return False
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return True
    if path.suffix == "":  # DICOM often has no extension: detect it by content
        with open(path, "rb") as handle:
            return is_dicom(handle.read(HEAD_BYTES))
    # Anything else in a class folder is registered so that it is reported as skipped.
    return path.suffix.lower() not in {".txt", ".md", ".csv", ".json"}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class IngestReport:
    dataset_id: int
    root: str
    total: int = 0
    added: int = 0
    already_known: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason -> count
    skipped_files: list[tuple[str, str]] = field(default_factory=list)


def _probe(entry: FileEntry) -> tuple[FileEntry, str, tuple[int, int] | None, str | None]:
    digest = sha256_file(entry.path)
    try:
        image = decode_image_file(entry.path)
    except DecodeError as exc:
        return entry, digest, None, str(exc)
    size = (image.gray.shape[1], image.gray.shape[0])
    # Not a chest radiograph by the input checks: registered as skipped, with the reason.
    problems = input_problems(image)
    reason = f"{entry.path}: refused, {'; '.join(problems)}" if problems else None
    return entry, digest, size, reason


def ingest(root: str | Path, name: str | None = None, workers: int = 4) -> IngestReport:
    """Register every image under `root`. Idempotent; a moved root is recognised by hash."""
    entries = discover(root)
    root_path = Path(root).expanduser().resolve()
    if printable_name(str(root_path)) != str(root_path):
        raise UserError(f"the folder name {printable_name(str(root_path))} is not valid UTF-8; "
                        "rename it and ingest again")
    synthetic = (root_path / SYNTHETIC_MARKER).exists()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        probed = list(pool.map(_probe, entries))
    has_test = any(entry.source_folder == "test" for entry in entries)
    return retry_on_conflict(lambda: _register(root_path, name, synthetic, has_test, probed))


def _register(root_path: Path, name: str | None, synthetic: bool, has_test: bool,
              probed: list) -> IngestReport:
    records = flag_conflicting_labels([_image_record(root_path, *item) for item in probed])
    registered = register_images(str(root_path), name or root_path.name, synthetic, has_test,
                                 records)
    report = IngestReport(dataset_id=registered.dataset_id, root=str(root_path),
                          total=len(probed), added=registered.added,
                          already_known=registered.already_known)
    for record in records:
        if record.skip_reason is not None:
            report.skipped[skip_kind(record.skip_reason)] += 1
            report.skipped_files.append((record.rel_path, record.skip_reason))
    return report


def printable_name(name: str) -> str:
    """A file name as text the database can hold: bytes that are not UTF-8 (a Latin-1 name
    copied from an older system) are shown as \\xNN escapes."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _image_record(root_path: Path, entry: FileEntry, digest: str,
                  size: tuple[int, int] | None, reason: str | None) -> ImageRecord:
    rel_path = printable_name(entry.rel_path)
    if rel_path != entry.rel_path:
        reason = (f"{rel_path}: file name is not valid UTF-8 (rename the file, e.g. with "
                  "convmv, and ingest again)")
    patient_id, subtype = parse_patient(printable_name(entry.path.name))
    mask = entry.path.with_name(entry.path.stem + "_mask.png")
    real_path = printable_name(str(entry.path.resolve()))
    return ImageRecord(rel_path, digest, entry.label, entry.source_folder, patient_id,
                       subtype, size, reason,
                       mask.relative_to(root_path).as_posix() if mask.exists() else None,
                       real_path if reason is None else None)


def flag_conflicting_labels(records: list[ImageRecord]) -> list[ImageRecord]:
    """Identical files (same sha256) filed under both labels are all skipped, naming each
    other: neither label can be trusted. Identical files with one label stay usable (the split
    keeps them in one subset)."""
    labels_by_hash: dict[str, dict[int, str]] = {}
    for record in records:
        if record.skip_reason is None:
            labels_by_hash.setdefault(record.sha256, {}).setdefault(record.label,
                                                                      record.rel_path)
    flagged = []
    for record in records:
        labels = labels_by_hash.get(record.sha256, {})
        if record.skip_reason is None and len(labels) > 1:
            others = ", ".join(f"{path} ({LABEL_NAMES[label]})" for label, path in
                               sorted(labels.items()) if label != record.label)
            record = dataclasses.replace(record, skip_reason=(
                f"{record.rel_path}: conflicting labels (the same image is also {others})"),
                real_path=None)
        flagged.append(record)
    return flagged


def dataset_for_root(root: str | Path) -> int:
    """The id of the dataset registered at `root`, ingesting it first if needed."""
    root_path = Path(root).expanduser().resolve()
    dataset_id = dataset_id_at(str(root_path))
    if dataset_id is None:
        dataset_id = ingest(root_path).dataset_id
    return dataset_id
