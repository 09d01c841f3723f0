"""Discovery, registration, patient parsing and idempotent ingest on real images."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from db.models import Dataset, Image
from db.session import session_scope
from engine.data.discover import discover, ingest, parse_patient
from engine.errors import UserError
from tests.conftest import copy_subset


@pytest.mark.parametrize(("name", "patient", "subtype"), [
    ("person1000_bacteria_2931.jpeg", "person1000", "bacteria"),
    ("person12_virus_33.jpeg", "person12", "virus"),
    ("IM-0115-0001.jpeg", "IM-0115", None),
    ("NORMAL2-IM-0115-0001.jpeg", "NORMAL2-IM-0115", None),
    ("something-else.png", "something-else", None),
])
def test_parse_patient(name: str, patient: str, subtype: str | None) -> None:
    assert parse_patient(name) == (patient, subtype)


def test_discover_kaggle_layout(tmp_path: Path) -> None:
    copy_subset(tmp_path / "train", per_class=3)
    copy_subset(tmp_path / "test", per_class=2, seed=1)
    entries = discover(tmp_path)
    assert len(entries) == 10
    assert {e.source_folder for e in entries} == {"train", "test"}
    assert {(e.source_folder, e.label) for e in entries} == {
        ("train", 0), ("train", 1), ("test", 0), ("test", 1)}
    assert all(e.rel_path.split("/")[0] in {"train", "test"} for e in entries)


def test_discover_flat_layout(tmp_path: Path) -> None:
    copy_subset(tmp_path, per_class=4)
    entries = discover(tmp_path)
    assert len(entries) == 8 and {e.source_folder for e in entries} == {""}
    assert sum(e.label for e in entries) == 4


def test_discover_rejects_other_folders(tmp_path: Path) -> None:
    (tmp_path / "random").mkdir()
    with pytest.raises(UserError, match="not a chest X-ray dataset"):
        discover(tmp_path)
    with pytest.raises(UserError, match="does not exist"):
        discover(tmp_path / "missing")


def test_ingest_records_and_is_idempotent(cxr_home: Path, tmp_path: Path) -> None:
    root = copy_subset(tmp_path / "data", per_class=5)
    (root / "PNEUMONIA" / "broken.jpeg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    first = ingest(root)
    assert first.total == 11 and first.added == 11 and sum(first.skipped.values()) == 1
    second = ingest(root)
    assert second.added == 0 and second.already_known == 11
    with session_scope() as session:
        rows = session.scalars(select(Image)).all()
        assert len(rows) == 11
        skipped = [r for r in rows if r.status == "skipped"]
        assert [r.rel_path for r in skipped] == ["PNEUMONIA/broken.jpeg"]
        assert "broken.jpeg" in skipped[0].skip_reason
        ok = [r for r in rows if r.status == "ok"]
        assert all(len(r.sha256) == 64 and r.width == 224 for r in ok)
        pneumonia = [r for r in ok if r.label == 1]
        assert all(r.subtype in {"bacteria", "virus"} and r.patient_id.startswith("person")
                   for r in pneumonia)


def test_moved_root_is_found_by_hash(cxr_home: Path, tmp_path: Path) -> None:
    root = copy_subset(tmp_path / "before", per_class=4)
    dataset_id = ingest(root).dataset_id
    moved = tmp_path / "after"
    shutil.move(root, moved)
    report = ingest(moved)
    assert report.dataset_id == dataset_id and report.added == 0
    with session_scope() as session:
        assert session.scalar(select(func.count(Dataset.id))) == 1
        assert session.get(Dataset, dataset_id).root == str(moved.resolve())
        assert session.scalar(select(func.count(Image.id))) == 8


def test_ingest_counts_new_and_already_known_files(cxr_home: Path, tmp_path: Path) -> None:
    root = copy_subset(tmp_path / "data", per_class=3)
    first = ingest(str(root))
    assert (first.total, first.added, first.already_known) == (6, 6, 0)
    again = ingest(str(root))
    assert (again.dataset_id, again.total, again.added, again.already_known) == (
        first.dataset_id, 6, 0, 6)
    extra = next((root / "NORMAL").iterdir())
    shutil.copy2(extra, root / "NORMAL" / f"copy-{extra.name}")
    shutil.move(str(next((root / "PNEUMONIA").iterdir())), root / "PNEUMONIA" / "renamed.jpeg")
    third = ingest(str(root))
    # A copy is a new file (its own path); a rename is the same image, matched by its hash.
    assert (third.total, third.added, third.already_known) == (7, 1, 6)


def test_datasets_count_usable_and_skipped_images(cxr_home: Path, tmp_path: Path) -> None:
    from db.datasets import ImageRecord, datasets, register_images

    def record(i: int, skip: str | None) -> ImageRecord:
        return ImageRecord(f"NORMAL/{i}.jpeg", f"{i:064x}", 0, "NORMAL", f"p{i}", None,
                           None if skip else (64, 64), skip, None)

    skipped_only = [record(i, f"NORMAL/{i}.jpeg: not an image") for i in range(3)]
    register_images(str(tmp_path / "bad"), "bad", False, False, skipped_only)
    mixed = [record(10, None), record(11, None), record(12, "NORMAL/12.jpeg: truncated")]
    register_images(str(tmp_path / "mixed"), "mixed", True, False, mixed)
    assert [(d.name, d.synthetic, d.n_ok, d.n_skipped) for d in datasets()] == [
        ("bad", False, 0, 3), ("mixed", True, 2, 1)]
