"""Patient-level splits: no leakage, stratified, deterministic, recorded in the database."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
from sqlalchemy import select

from db.models import Image, SplitAssignment
from db.session import session_scope
from db.splits import split_images
from engine.data.discover import ingest, parse_patient
from engine.data.splits import assign_subsets, get_or_create_split
from tests.conftest import copy_subset, real_data_root


def _real_rows() -> list[tuple[int, str, int]]:
    """(id, patient, label) for every real training file name (names only, no pixels)."""
    rows = []
    for label, name in enumerate(("NORMAL", "PNEUMONIA")):
        for path in sorted((real_data_root() / name).iterdir()):
            rows.append((len(rows), parse_patient(path.name)[0], label))
    return rows


def _patients_by_subset(rows, assignment) -> dict[str, set[str]]:
    subsets = defaultdict(set)
    for image_id, patient, _ in rows:
        subsets[assignment[image_id]].add(patient)
    return subsets


def test_no_patient_in_two_subsets_on_the_full_training_split() -> None:
    rows = _real_rows()
    assert len(rows) == 5216
    assignment = assign_subsets(rows, val_fraction=0.15, test_fraction=0.15, seed=0)
    subsets = _patients_by_subset(rows, assignment)
    assert set(subsets) == {"train", "val", "test"}
    assert not subsets["train"] & subsets["val"]
    assert not subsets["train"] & subsets["test"]
    assert not subsets["val"] & subsets["test"]
    # Several images per patient are common, so this is a real constraint.
    assert len({p for _, p, _ in rows}) < len(rows) * 0.8
    labels = np.array([label for _, _, label in rows])
    for subset, share in (("train", 0.70), ("val", 0.15), ("test", 0.15)):
        members = np.array([assignment[i] == subset for i, _, _ in rows])
        assert abs(members.mean() - share) < 0.02
        # stratified: each subset has about the dataset's pneumonia share
        assert abs(labels[members].mean() - labels.mean()) < 0.03


def test_split_is_deterministic_by_seed() -> None:
    rows = _real_rows()
    first = assign_subsets(rows, 0.2, 0.0, seed=3)
    assert first == assign_subsets(rows, 0.2, 0.0, seed=3)
    assert first != assign_subsets(rows, 0.2, 0.0, seed=4)
    assert set(first.values()) == {"train", "val"}


def test_split_recorded_in_database_with_official_test(cxr_home: Path, tmp_path: Path) -> None:
    copy_subset(tmp_path / "data" / "train", per_class=30)
    copy_subset(tmp_path / "data" / "test", per_class=5, seed=7)
    dataset_id = ingest(tmp_path / "data").dataset_id
    split_id = get_or_create_split(dataset_id, seed=0)
    assert get_or_create_split(dataset_id, seed=0) == split_id
    test = split_images(split_id, "test")
    with session_scope() as session:
        folders = dict(session.execute(select(Image.id, Image.source_folder)).all())
        assignments = session.execute(select(SplitAssignment.image_id, SplitAssignment.subset)
                                      .where(SplitAssignment.split_id == split_id)).all()
    # The official test/ folder is the test split; train/ is split 80/20 by patient.
    assert {folders[image.image_id] for image in test} == {"test"}
    subsets = defaultdict(set)
    for image_id, subset in assignments:
        subsets[subset].add(image_id)
    train, val = split_images(split_id, "train"), split_images(split_id, "val")
    assert 0.1 < len(val) / (len(train) + len(val)) < 0.3
    patients = {name: {i.patient_id for i in split_images(split_id, name)}
                for name in ("train", "val", "test")}
    assert not patients["train"] & patients["val"]
    assert not (patients["train"] | patients["val"]) & patients["test"]
