"""The datasets aggregate: registering a folder's images, finding a dataset by its root, and the
Dataset page's reads. What a file is (label, patient, checks) is decided in engine/data.py."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Registered:
    dataset_id: int
    added: int
    already_known: int


def register_images(root: str, name: str, synthetic: bool, has_official_test: bool,
                    records: list[ImageRecord]) -> Registered:
    """Register (or update) every file of the dataset at `root` in one transaction. A moved
    root is recognised by its images' hashes; a known file is matched by path, else by hash."""
    with session_scope(write=True) as session:
        dataset = _dataset_at(session, root, [record.sha256 for record in records], name)
        dataset.synthetic = synthetic
        dataset.has_official_test = has_official_test
        dataset.ingested_at = utcnow()
        known = {row.rel_path: row for row in session.scalars(
            select(Image).where(Image.dataset_id == dataset.id))}
        by_hash = {row.sha256: row for row in known.values()}
        added = 0
        for record in records:
            row = known.get(record.rel_path) or by_hash.get(record.sha256)
            if row is None:
                row = Image(dataset_id=dataset.id, rel_path=record.rel_path)
                session.add(row)
                added += 1
            _fill_image(row, record)
        return Registered(dataset.id, added, len(records) - added)


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


def _dataset_at(session: Session, root: str, digests: list[str], name: str) -> Dataset:
    dataset = session.scalar(select(Dataset).where(Dataset.root == root))
    if dataset is None:
        dataset = _find_moved_dataset(session, digests)
        if dataset is not None:
            dataset.root = root
    if dataset is None:
        dataset = Dataset(name=name, root=root)
        session.add(dataset)
        session.flush()
    return dataset


def _find_moved_dataset(session: Session, digests: list[str]) -> Dataset | None:
    """The dataset whose images share most hashes with these files, if most of them match."""
    if not digests:
        return None
    sample = digests[:200]
    rows = session.execute(
        select(Image.dataset_id).where(Image.sha256.in_(sample))
    ).scalars().all()
    if not rows:
        return None
    dataset_id, hits = Counter(rows).most_common(1)[0]
    if hits < 0.8 * len(sample):
        return None
    return session.get(Dataset, dataset_id)


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


def skipped_files(dataset_id: int, limit: int = 500) -> pd.DataFrame:
    query = (select(Image.rel_path, Image.skip_reason)
             .where(Image.dataset_id == dataset_id, Image.status == "skipped")
             .order_by(Image.rel_path).limit(limit))
    with session_scope() as session:
        return pd.DataFrame(session.execute(query).all(), columns=["file", "reason"])