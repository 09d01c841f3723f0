"""The imported-runs aggregate: a run trained elsewhere (arch "external"), the registered images
its predictions file may name, and where that file came from (`run_imports`).

engine/evaluation/imported.py reads the file and decides; this module looks up and stores.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from db.errors import UserError
from db.models import EXTERNAL_ARCH, Dataset, Image, Run, RunImport, Split, SplitAssignment
from db.session import session_scope


@dataclass(frozen=True)
class ImageKey:
    """A registered image as a predictions file may name it: by path or by content."""

    image_id: int
    rel_path: str  # relative to the dataset root, POSIX separators
    sha256: str
    label: int
    usable: bool  # False: skipped at ingest (unreadable, conflicting labels, ...)


def dataset_image_keys(dataset_id: int) -> list[ImageKey]:
    """Every registered image of a dataset, usable or not, in id order."""
    query = (select(Image.id, Image.rel_path, Image.sha256, Image.label, Image.status)
             .where(Image.dataset_id == dataset_id).order_by(Image.id))
    with session_scope() as session:
        rows = session.execute(query).all()
    return [ImageKey(row.id, row.rel_path, row.sha256, int(row.label), row.status == "ok")
            for row in rows]


@dataclass(frozen=True)
class SplitSubsets:
    """Which subset (train / val / test) each image of a split is in."""

    split_id: int
    dataset_id: int
    subset_of: dict[int, str]  # image id -> subset


def split_subsets(split_id: int) -> SplitSubsets:
    with session_scope() as session:
        dataset_id = session.scalar(select(Split.dataset_id).where(Split.id == split_id))
        if dataset_id is None:
            raise UserError(f"split {split_id} does not exist")
        rows = session.execute(select(SplitAssignment.image_id, SplitAssignment.subset)
                               .where(SplitAssignment.split_id == split_id)).all()
    return SplitSubsets(split_id, int(dataset_id), {int(row[0]): row[1] for row in rows})


def dataset_root(dataset_id: int) -> str:
    with session_scope() as session:
        return session.scalar(select(Dataset.root).where(Dataset.id == dataset_id)) or ""


def registered_dataset_ids() -> list[int]:
    with session_scope() as session:
        return [int(i) for i in session.scalars(select(Dataset.id).order_by(Dataset.id)).all()]


@dataclass(frozen=True)
class ImportRecord:
    """Where an external run's predictions came from, and what became of the file's rows."""

    run_id: int
    source_name: str
    source_sha256: str
    n_rows: int
    n_unknown: int
    n_train: int
    threshold_from_file: bool


def record_import(record: ImportRecord) -> None:
    with session_scope(write=True) as session:
        session.add(RunImport(run_id=record.run_id, source_name=record.source_name,
                              source_sha256=record.source_sha256, n_rows=record.n_rows,
                              n_unknown=record.n_unknown, n_train=record.n_train,
                              threshold_from_file=record.threshold_from_file))


def import_record(run_id: int) -> ImportRecord | None:
    with session_scope() as session:
        row = session.get(RunImport, run_id)
        if row is None:
            return None
        return ImportRecord(row.run_id, row.source_name, row.source_sha256, row.n_rows,
                            row.n_unknown, row.n_train, bool(row.threshold_from_file))


def is_external(run_id: int | None) -> bool:
    """Whether `run_id` names an imported run (no checkpoint, no Grad-CAM)."""
    if run_id is None:
        return False
    with session_scope() as session:
        return session.scalar(select(Run.arch).where(Run.id == int(run_id))) == EXTERNAL_ARCH
