"""The splits aggregate: a dataset's patient-level splits, their assignments and their images.
Which image goes where is decided in engine/data/splits.py; this module stores and reads it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import distinct, func, select

from db.errors import UserError
from db.models import Dataset, Image, Split, SplitAssignment
from db.session import session_scope


@dataclass(frozen=True)
class SplitImage:
    image_id: int
    path: str  # absolute
    label: int
    patient_id: str
    lesion_mask_path: str | None = None  # absolute; synthetic data only


@dataclass(frozen=True)
class SplitCandidate:
    """A usable image of a dataset, as the split planner sees it."""

    image_id: int
    patient_id: str
    label: int
    source_folder: str
    sha256: str = ""


Fractions = Callable[[bool], tuple[float, float]]  # has an official test -> (val, test)
Planner = Callable[[list[SplitCandidate], float, float], dict[int, str]]  # -> image id: subset


def get_or_create_split(dataset_id: int, seed: int, fractions: Fractions,
                        plan: Planner) -> int:
    """The split of `dataset_id` for `seed`; on first use `plan` assigns the subsets and the
    split is recorded, all in one transaction."""
    with session_scope(write=True) as session:
        dataset = session.get(Dataset, dataset_id)
        if dataset is None:
            raise UserError(f"dataset {dataset_id} is not registered; run `cxr ingest DIR` first")
        val_fraction, test_fraction = fractions(bool(dataset.has_official_test))
        split = session.scalar(select(Split).where(
            Split.dataset_id == dataset_id, Split.seed == seed,
            Split.val_fraction == val_fraction, Split.test_fraction == test_fraction))
        if split is not None:
            return split.id
        rows = session.execute(select(Image.id, Image.patient_id, Image.label, Image.source_folder,
                                      Image.sha256)
                               .where(Image.dataset_id == dataset_id, Image.status == "ok")).all()
        if not rows:
            raise UserError(f"dataset {dataset.root} has no usable images")
        assignment = plan([SplitCandidate(*row) for row in rows], val_fraction, test_fraction)
        split = Split(dataset_id=dataset_id, seed=seed, val_fraction=val_fraction,
                      test_fraction=test_fraction)
        session.add(split)
        session.flush()
        session.add_all(SplitAssignment(split_id=split.id, image_id=image_id, subset=subset)
                        for image_id, subset in assignment.items())
        return split.id


def _split_image(root: str, row) -> SplitImage:  # noqa: ANN001
    mask = f"{root}/{row.lesion_mask_path}" if row.lesion_mask_path else None
    return SplitImage(row.id, f"{root}/{row.rel_path}", row.label, row.patient_id, mask)


def split_images(split_id: int, subset: str) -> list[SplitImage]:
    """The usable images of one subset of a split, in a stable order."""
    with session_scope() as session:
        root = session.scalar(
            select(Dataset.root).join(Split, Split.dataset_id == Dataset.id)
            .where(Split.id == split_id))
        rows = session.execute(
            select(Image.id, Image.rel_path, Image.label, Image.patient_id,
                   Image.lesion_mask_path)
            .join(SplitAssignment, SplitAssignment.image_id == Image.id)
            .where(SplitAssignment.split_id == split_id, SplitAssignment.subset == subset,
                   Image.status == "ok")
            .order_by(Image.id)).all()
    return [_split_image(root, row) for row in rows]


def dataset_images(dataset_id: int) -> list[SplitImage]:
    """Every usable image of a dataset (an external evaluation set)."""
    with session_scope() as session:
        root = session.scalar(select(Dataset.root).where(Dataset.id == dataset_id))
        rows = session.execute(
            select(Image.id, Image.rel_path, Image.label, Image.patient_id,
                   Image.lesion_mask_path)
            .where(Image.dataset_id == dataset_id, Image.status == "ok")
            .order_by(Image.id)).all()
    return [_split_image(root, row) for row in rows]


def splits_of(dataset_id: int) -> pd.DataFrame:
    query = (select(Split.id, Split.seed, Split.val_fraction, Split.test_fraction)
             .where(Split.dataset_id == dataset_id).order_by(Split.id))
    with session_scope() as session:
        return pd.DataFrame(session.execute(query).all(),
                            columns=["split_id", "seed", "val_fraction", "test_fraction"])


def split_balance(split_id: int) -> pd.DataFrame:
    """Per subset and label: images, patients; and pneumonia subtypes per subset."""
    query = (select(SplitAssignment.subset, Image.label, Image.subtype,
                    func.count().label("images"),
                    func.count(distinct(Image.patient_id)).label("patients"))
             .join(Image, Image.id == SplitAssignment.image_id)
             .where(SplitAssignment.split_id == split_id)
             .group_by(SplitAssignment.subset, Image.label, Image.subtype))
    with session_scope() as session:
        return pd.DataFrame(session.execute(query).all(),
                            columns=["subset", "label", "subtype", "images", "patients"])


def split_patient_counts(split_id: int) -> pd.DataFrame:
    query = (select(SplitAssignment.subset, Image.label,
                    func.count(distinct(Image.patient_id)).label("patients"))
             .join(Image, Image.id == SplitAssignment.image_id)
             .where(SplitAssignment.split_id == split_id)
             .group_by(SplitAssignment.subset, Image.label))
    with session_scope() as session:
        return pd.DataFrame(session.execute(query).all(), columns=["subset", "label", "patients"])


def leaked_patients(split_id: int) -> list[str]:
    """Patients whose images sit in more than one subset of a split (should be none)."""
    query = (select(Image.patient_id).join(SplitAssignment, SplitAssignment.image_id == Image.id)
             .where(SplitAssignment.split_id == split_id).group_by(Image.patient_id)
             .having(func.count(distinct(SplitAssignment.subset)) > 1).order_by(Image.patient_id))
    with session_scope() as session:
        return list(session.scalars(query).all())

def leaked_duplicates(split_id: int) -> list[str]:
    """Images whose identical content (same sha256) sits in more than one subset of a split,
    under any file or patient name (should be none): each as its first file's path."""
    query = (select(func.min(Image.rel_path)).join(
        SplitAssignment, SplitAssignment.image_id == Image.id)
             .where(SplitAssignment.split_id == split_id).group_by(Image.sha256)
             .having(func.count(distinct(SplitAssignment.subset)) > 1)
             .order_by(func.min(Image.rel_path)))
    with session_scope() as session:
        return list(session.scalars(query).all())


def subset_label_counts(split_id: int, subset: str) -> dict[int, int]:
    """Usable images per label in one subset of a split (labels with none are absent)."""
    query = (select(Image.label, func.count()).join(
        SplitAssignment, SplitAssignment.image_id == Image.id)
             .where(SplitAssignment.split_id == split_id, SplitAssignment.subset == subset,
                    Image.status == "ok").group_by(Image.label))
    with session_scope() as session:
        return {int(label): int(count) for label, count in session.execute(query).all()}


def seen_in_training(split_id: int, dataset_id: int) -> int:
    """How many usable images of `dataset_id` are identical (same sha256) to an image in the
    train or val subset of `split_id`: images the run learned from or was calibrated on."""
    trained = (select(Image.sha256).join(SplitAssignment, SplitAssignment.image_id == Image.id)
               .where(SplitAssignment.split_id == split_id,
                      SplitAssignment.subset.in_(("train", "val"))))
    query = (select(func.count(Image.id))
             .where(Image.dataset_id == dataset_id, Image.status == "ok",
                    Image.sha256.in_(trained)))
    with session_scope() as session:
        return int(session.scalar(query) or 0)


def seen_in_sample(sample_dataset_id: int, dataset_id: int) -> int:
    """How many usable images of `dataset_id` are identical (same sha256) to a usable image of
    the dataset `sample_dataset_id` (a site-calibrated run's calibration sample)."""
    sample = select(Image.sha256).where(Image.dataset_id == sample_dataset_id,
                                        Image.status == "ok")
    query = (select(func.count(Image.id))
             .where(Image.dataset_id == dataset_id, Image.status == "ok",
                    Image.sha256.in_(sample)))
    with session_scope() as session:
        return int(session.scalar(query) or 0)
