"""Patient-level splits, stratified by label, deterministic by seed, recorded in the database
(db/splits.py).

With an official `test/` folder the training images are split 80/20 into train and val; without
one, a test split is held out too (70/15/15). A patient never appears in two subsets.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from db import splits as splits_db
from db.session import retry_on_conflict
from db.splits import SplitCandidate

VAL_FRACTION_WITH_TEST = 0.2
VAL_FRACTION = 0.15
TEST_FRACTION = 0.15


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


def split_fractions(has_official_test: bool) -> tuple[float, float]:
    """(val, test) shares: 80/20 beside an official test folder, else 70/15/15."""
    if has_official_test:
        return VAL_FRACTION_WITH_TEST, 0.0
    return VAL_FRACTION, TEST_FRACTION


def plan_split(candidates: list[SplitCandidate], val_fraction: float, test_fraction: float,
               seed: int) -> dict[int, str]:
    """Image id -> subset: the official test folder stays test, and its patients (and copies of
    its images) leave the pool; the rest is dealt by `assign_subsets`, where patients sharing an
    identical image count as one, so a copy never lands in two subsets."""
    official_test = [c for c in candidates if c.source_folder == "test"]
    test_patients = {c.patient_id for c in official_test}
    test_images = {c.sha256 for c in official_test if c.sha256}
    pool = [c for c in candidates if c.source_folder != "test"
            and c.patient_id not in test_patients and c.sha256 not in test_images]
    group = _content_groups(pool)
    assignment = assign_subsets([(c.image_id, group[c.patient_id], c.label) for c in pool],
                                val_fraction, test_fraction, seed)
    assignment.update({c.image_id: "test" for c in official_test})
    return assignment


def _content_groups(candidates: list[SplitCandidate]) -> dict[str, str]:
    """Patient id -> the id of its group: patients joined by an identical image (same sha256,
    e.g. one file copied under two patient names) are one group (union-find)."""
    parent = {c.patient_id: c.patient_id for c in candidates}

    def find(patient: str) -> str:
        while parent[patient] != patient:
            parent[patient] = parent[parent[patient]]
            patient = parent[patient]
        return patient

    first_with: dict[str, str] = {}
    for candidate in candidates:
        if not candidate.sha256:
            continue
        other = first_with.setdefault(candidate.sha256, candidate.patient_id)
        low, high = sorted((find(other), find(candidate.patient_id)))
        parent[high] = low
    return {patient: find(patient) for patient in parent}


def get_or_create_split(dataset_id: int, seed: int) -> int:
    """The split of `dataset_id` for `seed`, computed and recorded on first use."""
    return retry_on_conflict(lambda: splits_db.get_or_create_split(
        dataset_id, seed, split_fractions,
        lambda candidates, val, test: plan_split(candidates, val, test, seed)))
