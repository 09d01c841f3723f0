"""The datasets aggregate: registering a folder's images, finding a dataset by its root, and the
Dataset page's reads. What a file is (label, patient, checks) is decided in
engine/data/discover.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Dataset, Image, utcnow
from db.session import session_scope


@dataclass(frozen=True)
class ImageRecord:
    """One probed file as the engine describes it, ready to register."""

    rel_path: str
    sha256: str
    label: int
    source_folder: str
    patient_id: str
    subtype: str | None
    size: tuple[int, int] | None  # (width, height); None when it did not decode
    skip_reason: str | None  # None: usable
    lesion_mask_path: str | None  # relative to the root
    real_path: str | None = None  # the file's resolved path at ingest (symlinks followed)


# A folder is taken for a dataset's moved root when it holds this share of its usable images;
# the candidates are the datasets sharing a hash with the first MOVED_SAMPLE of its files.
MOVED_SHARE = 0.8
MOVED_SAMPLE = 500


@dataclass(frozen=True)
class Registered:
    dataset_id: int
    added: int
    already_known: int


def register_images(root: str, name: str, synthetic: bool, has_official_test: bool,
                    records: list[ImageRecord]) -> Registered:
    """Register (or update) every file of the dataset at `root` in one transaction.

    A known file is matched by path, else by hash (a rename); a row whose file is no longer
    under the root is marked skipped. Another dataset's root is never changed while it exists:
    a subset, superset or overlapping folder is a dataset of its own, sharing the images'
    sha256. A dataset is re-rooted here only when its old root is gone and this folder holds
    its files (a moved folder)."""
    with session_scope(write=True) as session:
        dataset = _dataset_at(session, root, records, name)
        dataset.synthetic = synthetic
        dataset.has_official_test = has_official_test
        dataset.ingested_at = utcnow()
        rows = _match_rows(session, dataset.id, records)
        added = 0
        for record, row in zip(records, rows, strict=True):
            if row is None:
                row = Image(dataset_id=dataset.id, rel_path=record.rel_path)
                session.add(row)
                added += 1
            _fill_image(row, record)
        return Registered(dataset.id, added, len(records) - added)


def _match_rows(session: Session, dataset_id: int,
                records: list[ImageRecord]) -> list[Image | None]:
    """The existing row of each record (by path, else by an unclaimed row of the same hash);
    rows left unclaimed lost their file and are marked skipped."""
    known = {row.rel_path: row for row in session.scalars(
        select(Image).where(Image.dataset_id == dataset_id))}
    matched: list[Image | None] = [known.pop(record.rel_path, None) for record in records]
    by_hash: dict[str, list[Image]] = {}
    for row in known.values():
        by_hash.setdefault(row.sha256, []).append(row)
    for index, record in enumerate(records):
        if matched[index] is None and by_hash.get(record.sha256):
            matched[index] = by_hash[record.sha256].pop()
    claimed = {id(row) for row in matched if row is not None}
    for row in known.values():
        if id(row) not in claimed:
            row.status = "skipped"
            row.skip_reason = f"{row.rel_path}: no longer under the dataset root at the last ingest"
    return matched


def _fill_image(row: Image, record: ImageRecord) -> None:
    row.rel_path = record.rel_path
    row.sha256 = record.sha256
    row.label = record.label
    row.source_folder = record.source_folder
    row.patient_id = record.patient_id
    row.subtype = record.subtype
    row.width, row.height = record.size if record.size else (None, None)
    row.status = "ok" if record.skip_reason is None else "skipped"
    row.skip_reason = record.skip_reason
    row.lesion_mask_path = record.lesion_mask_path
    row.real_path = record.real_path


def _dataset_at(session: Session, root: str, records: list[ImageRecord], name: str) -> Dataset:
    dataset = session.scalar(select(Dataset).where(Dataset.root == root))
    if dataset is None:
        dataset = _find_moved_dataset(session, {record.sha256 for record in records})
        if dataset is not None:
            dataset.root = root
    if dataset is None:
        dataset = Dataset(name=name, root=root)
        session.add(dataset)
        session.flush()
    return dataset


def _find_moved_dataset(session: Session, digests: set[str]) -> Dataset | None:
    """The dataset these files were moved from: its root is gone, and this folder holds at least
    MOVED_SHARE of its usable images (by hash). None when no dataset qualifies."""
    if not digests:
        return None
    candidates = session.execute(
        select(Image.dataset_id).where(Image.sha256.in_(sorted(digests)[:MOVED_SAMPLE]))
        .distinct()).scalars().all()
    best, best_score = None, (MOVED_SHARE, 0)
    for dataset_id in sorted(candidates):
        dataset = session.get(Dataset, dataset_id)
        if Path(dataset.root).exists():  # still there: this folder is a copy, not a move
            continue
        held = session.scalars(select(Image.sha256).where(
            Image.dataset_id == dataset_id, Image.status == "ok")).all()
        found = sum(digest in digests for digest in held)
        # The largest share of its images here, then the most of them (a moved folder, not a
        # part of it that was registered on its own and moved with it).
        score = (found / max(len(held), 1), found)
        if held and score > best_score:
            best, best_score = dataset, score
    return best


def dataset_id_at(root: str) -> int | None:
    """The id of the dataset registered at `root` (an absolute path), if any."""
    with session_scope() as session:
        return session.scalar(select(Dataset.id).where(Dataset.root == root))


@dataclass(frozen=True)
class DatasetInfo:
    id: int
    name: str
    root: str
    synthetic: bool
    n_ok: int
    n_skipped: int


def datasets() -> list[DatasetInfo]:
    counts = (select(Image.dataset_id, Image.status, func.count())
              .group_by(Image.dataset_id, Image.status))
    with session_scope() as session:
        by_status = {(row[0], row[1]): row[2] for row in session.execute(counts).all()}
        rows = session.execute(select(Dataset.id, Dataset.name, Dataset.root, Dataset.synthetic)
                               .order_by(Dataset.id)).all()
    return [DatasetInfo(row[0], row[1], row[2], bool(row[3]), by_status.get((row[0], "ok"), 0),
                        by_status.get((row[0], "skipped"), 0)) for row in rows]


def skip_kind(reason: str) -> str:
    """A skip reason without its file and details: "path: conflicting labels (...)" ->
    "conflicting labels", what summaries count."""
    return reason.split(": ", 1)[-1].split(" (")[0]


def skip_kinds(dataset_id: int) -> pd.Series:
    """How many files of a dataset were skipped for each kind of reason, most first."""
    query = select(Image.skip_reason).where(Image.dataset_id == dataset_id,
                                            Image.status == "skipped")
    with session_scope() as session:
        reasons = session.scalars(query).all()
    kinds = pd.Series([skip_kind(reason or "") for reason in reasons], dtype=object)
    return kinds.value_counts()


def skipped_files(dataset_id: int, limit: int = 500) -> pd.DataFrame:
    query = (select(Image.rel_path, Image.skip_reason)
             .where(Image.dataset_id == dataset_id, Image.status == "skipped")
             .order_by(Image.rel_path).limit(limit))
    with session_scope() as session:
        return pd.DataFrame(session.execute(query).all(), columns=["file", "reason"])