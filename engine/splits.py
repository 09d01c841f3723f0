"""Patient-level splits, stratified by label, deterministic by seed, recorded in the database.

With an official `test/` folder the training images are split 80/20 into train and val; without
one, a test split is held out too (70/15/15). A patient never appears in two subsets.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select

from db.models import Dataset, Image, Split, SplitAssignment
from db.session import retry_on_conflict, session_scope
from engine.errors import UserError

VAL_FRACTION_WITH_TEST = 0.2
VAL_FRACTION = 0.15
TEST_FRACTION = 0.15


@dataclass(frozen=True)
class SplitImage:
    image_id: int
    path: str  # absolute
    label: int
    patient_id: str
    lesion_mask_path: str | None = None  # absolute; synthetic data only


def assign_subsets(
    image_patients: list[tuple[int, str, int]],
    val_fraction: float,
    test_fraction: float,
    seed: int,
) -> dict[int, str]:
    """Map image id -> subset from (image_id, patient_id, label) rows.

    Patients are grouped by their majority label, shuffled with `seed` inside each label, and
    dealt out until each subset holds its share of that label's images.
    """
    images_by_patient: dict[str, list[int]] = defaultdict(list)
    labels_by_patient: dict[str, list[int]] = defaultdict(list)
    for image_id, patient_id, label in image_patients:
        images_by_patient[patient_id].append(image_id)
        labels_by_patient[patient_id].append(label)
    rng = np.random.default_rng(seed)
    assignment: dict[int, str] = {}
    for label in (0, 1):
        patients = sorted(
            p for p, labels in labels_by_patient.items() if int(np.mean(labels) >= 0.5) == label
        )
        patients = [patients[i] for i in rng.permutation(len(patients))]
        total = sum(len(images_by_patient[p]) for p in patients)
        quotas = [("test", test_fraction * total), ("val", val_fraction * total)]
        taken = 0
        for patient in patients:
            subset = "train"
            boundary = 0.0
            for name, quota in quotas:
                boundary += quota
                if taken < boundary:
                    subset = name
                    break
            taken += len(images_by_patient[patient])
            for image_id in images_by_patient[patient]:
                assignment[image_id] = subset
    return assignment


def get_or_create_split(dataset_id: int, seed: int) -> int:
    """The split of `dataset_id` for `seed`, computed and recorded on first use."""
    return retry_on_conflict(lambda: _get_or_create_split(dataset_id, seed))


def _get_or_create_split(dataset_id: int, seed: int) -> int:
    with session_scope(write=True) as session:
        dataset = session.get(Dataset, dataset_id)
        if dataset is None:
            raise UserError(f"dataset {dataset_id} is not registered; run `cxr ingest DIR` first")
        test_fraction = 0.0 if dataset.has_official_test else TEST_FRACTION
        val_fraction = VAL_FRACTION_WITH_TEST if dataset.has_official_test else VAL_FRACTION
        split = session.scalar(select(Split).where(
            Split.dataset_id == dataset_id, Split.seed == seed,
            Split.val_fraction == val_fraction, Split.test_fraction == test_fraction))
        if split is not None:
            return split.id
        rows = session.execute(select(Image.id, Image.patient_id, Image.label, Image.source_folder)
                               .where(Image.dataset_id == dataset_id, Image.status == "ok")).all()
        if not rows:
            raise UserError(f"dataset {dataset.root} has no usable images")
        official_test = [r for r in rows if r.source_folder == "test"]
        test_patients = {r.patient_id for r in official_test}
        pool = [(r.id, r.patient_id, r.label) for r in rows
                if r.source_folder != "test" and r.patient_id not in test_patients]
        assignment = assign_subsets(pool, val_fraction, test_fraction, seed)
        assignment.update({r.id: "test" for r in official_test})
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
