"""Data integrity on real images: registering a folder never re-roots another dataset, odd
folders (Latin-1 names, one class, copies under two labels or two patients, unreadable files)
end in a recorded reason or one clear message, never a traceback."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from db.models import Dataset, Image, Run
from db.session import session_scope
from engine.data.discover import ingest
from engine.errors import UserError
from tests.conftest import copy_subset, cxr_environment


def _datasets() -> dict[int, tuple[str, bool]]:
    with session_scope() as session:
        return {row.id: (row.root, bool(row.has_official_test))
                for row in session.scalars(select(Dataset))}


def assert_every_image_resolves() -> None:
    """Every usable image of every dataset is an existing file with its recorded sha256."""
    with session_scope() as session:
        rows = session.execute(select(Dataset.root, Image.rel_path, Image.sha256)
                               .join(Image, Image.dataset_id == Dataset.id)
                               .where(Image.status == "ok")).all()
    for root, rel_path, digest in rows:
        path = Path(root) / rel_path
        assert path.is_file(), f"{path} does not resolve"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, path


def test_subset_superset_overlap_and_true_move(cxr_home: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    copy_subset(root / "train", per_class=3)
    copy_subset(root / "test", per_class=2, seed=1)
    main = ingest(root).dataset_id
    superset = tmp_path / "superset"
    shutil.copytree(root / "train", superset)
    copy_subset(superset, per_class=2, seed=2)
    overlap = tmp_path / "overlap"
    copy_subset(overlap, per_class=3)  # root's train files ...
    for path in (overlap / "NORMAL").iterdir():
        path.unlink()  # ... less a class
    copy_subset(overlap, per_class=3, seed=5)
    copy_of_test = tmp_path / "site"
    shutil.copytree(root / "test", copy_of_test)
    for folder in (root / "test", copy_of_test, superset, overlap):
        report = ingest(folder)
        assert report.dataset_id != main and report.added == report.total, folder
        assert _datasets()[main] == (str(root.resolve()), True)  # never re-rooted
        assert_every_image_resolves()
    assert len(_datasets()) == 5
    moved = tmp_path / "moved"
    shutil.move(root, moved)
    report = ingest(moved)  # the old root is gone and this folder holds its files: a move
    assert report.dataset_id == main and report.added == 0
    assert _datasets()[main] == (str(moved.resolve()), True)
    test_subset = next(key for key, (folder, _) in _datasets().items()
                       if folder == str((root / "test").resolve()))
    # The test subset's own dataset moved with it: found again at its new place.
    assert ingest(moved / "test").dataset_id == test_subset
    assert len(_datasets()) == 5
    assert_every_image_resolves()


def test_latin1_file_name_is_skipped_and_the_rest_registers(cxr_home: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture) -> None:
    from engine.cli import main as cxr

    root = copy_subset(tmp_path / "data", per_class=3)
    source = next((root / "NORMAL").iterdir()).read_bytes()
    latin1 = os.fsencode(root / "NORMAL") + "/café_IM-9999-0001.jpeg".encode("latin-1")
    with open(latin1, "wb") as handle:
        handle.write(source[:-10] + b"0123456789")  # its own bytes: not a copy of another file
    assert cxr(["ingest", str(root)]) == 0
    out = capsys.readouterr().out
    assert "7 files, 7 new" in out and "1 skipped" in out and "not valid UTF-8" in out
    with session_scope() as session:
        rows = session.execute(select(Image.rel_path, Image.status, Image.skip_reason)).all()
    skipped = [row for row in rows if row.status == "skipped"]
    assert [row.rel_path for row in skipped] == ["NORMAL/caf\\xe9_IM-9999-0001.jpeg"]
    assert "rename" in skipped[0].skip_reason
    assert sum(row.status == "ok" for row in rows) == 6


def test_same_image_under_both_labels_is_skipped_with_the_reason(
        cxr_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from db.datasets import skipped_files
    from engine.cli import main as cxr

    root = copy_subset(tmp_path / "data", per_class=3)
    normal = sorted((root / "NORMAL").iterdir())[0]
    shutil.copy2(normal, root / "PNEUMONIA" / "person9999_bacteria_1.jpeg")
    assert cxr(["ingest", str(root)]) == 0
    out = capsys.readouterr().out
    assert "skipped 2: conflicting labels" in out
    assert f"NORMAL/{normal.name}: conflicting labels" in out
    dataset_id = _only_dataset_id()
    listed = skipped_files(dataset_id)
    assert sorted(listed.file) == sorted([f"NORMAL/{normal.name}",
                                          "PNEUMONIA/person9999_bacteria_1.jpeg"])
    assert listed.reason.str.contains("conflicting labels").all()


def _only_dataset_id() -> int:
    (dataset_id,) = _datasets()
    return dataset_id


def test_identical_images_under_many_patients_stay_in_one_subset(cxr_home: Path,
                                                                 tmp_path: Path) -> None:
    from db.splits import leaked_duplicates, leaked_patients, split_images
    from engine.data.splits import get_or_create_split

    root = copy_subset(tmp_path / "data", per_class=12)
    normal = sorted((root / "NORMAL").iterdir())[0]
    for patient in range(10):  # one film filed under ten patient names
        shutil.copy2(normal, root / "NORMAL" / f"IM-{9000 + patient}-0001.jpeg")
    dataset_id = ingest(root).dataset_id
    split_id = get_or_create_split(dataset_id, seed=0)
    subsets = {subset for subset in ("train", "val", "test")
               if any(Path(image.path).read_bytes() == normal.read_bytes()
                      for image in split_images(split_id, subset))}
    assert len(subsets) == 1
    assert leaked_duplicates(split_id) == [] and leaked_patients(split_id) == []


def test_leakage_check_counts_identical_images(cxr_home: Path, tmp_path: Path) -> None:
    """A split recorded before copies were kept together still shows them as leaked."""
    from db.models import SplitAssignment
    from db.splits import leaked_duplicates
    from engine.data.splits import get_or_create_split

    root = copy_subset(tmp_path / "data", per_class=6)
    normal = sorted((root / "NORMAL").iterdir())[0]
    shutil.copy2(normal, root / "NORMAL" / "IM-9000-0001.jpeg")
    split_id = get_or_create_split(ingest(root).dataset_id, seed=0)
    with session_scope(write=True) as session:
        copies = session.scalars(select(Image.id).where(Image.sha256 == session.scalar(
            select(Image.sha256).where(Image.rel_path == "NORMAL/IM-9000-0001.jpeg")))).all()
        for image_id, subset in zip(copies, ("train", "test"), strict=True):
            session.execute(SplitAssignment.__table__.update().where(
                SplitAssignment.split_id == split_id, SplitAssignment.image_id == image_id)
                .values(subset=subset))
    assert leaked_duplicates(split_id) == [f"NORMAL/{normal.name}"]


def _run_count() -> int:
    with session_scope() as session:
        return session.scalar(select(func.count(Run.id)))


def test_a_train_split_without_pneumonia_is_refused_before_a_run(cxr_home: Path,
                                                                 tmp_path: Path) -> None:
    from engine.training.train import TrainConfig, main

    root = copy_subset(tmp_path / "data", per_class=8)
    shutil.rmtree(root / "PNEUMONIA")
    (root / "PNEUMONIA").mkdir()
    with pytest.raises(UserError, match=r"train split .* has \d+ NORMAL, 0 PNEUMONIA usable "
                                        r"images: no PNEUMONIA image"):
        main(TrainConfig(arch="small_cnn", data=str(root), epochs=1, image_size=64,
                         batch_size=4))
    assert _run_count() == 0


def test_empty_intensity_batch_is_no_error() -> None:
    from engine.data.pixels import normalize_intensity

    empty = np.zeros((0, 8, 8), dtype=np.uint8)
    for mode in ("none", "equalize", "clahe"):
        assert normalize_intensity(empty, mode).shape == (0, 8, 8)


@pytest.fixture(scope="module")
def kaggle_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A small CNN trained on ROOT (train/ and test/), evaluated on ROOT/test and adapted on a
    copy of ROOT/test: folders whose every file belongs to ROOT."""
    from engine.evaluation.adaptation import adapt_run
    from engine.evaluation.evaluate import evaluate_run
    from engine.training.train import TrainConfig, main

    folder = tmp_path_factory.mktemp("kaggle-root")
    root = folder / "root"
    copy_subset(root / "train", per_class=12)
    copy_subset(root / "test", per_class=4, seed=3)
    site = folder / "site"
    shutil.copytree(root / "test", site)
    with cxr_environment(tmp_path_factory.mktemp("kaggle-home")) as home:
        run_id = main(TrainConfig(arch="small_cnn", data=str(root), epochs=1, image_size=64,
                                  batch_size=8, seed=0, name="kaggle"))
        before = _datasets()
        evaluation = evaluate_run(run_id, data_dir=str(root / "test"), device="cpu")
        adapted = adapt_run(run_id, str(site), device="cpu")
        yield {"home": home, "root": root, "site": site, "run": run_id, "before": before,
               "evaluation": evaluation, "adapted": adapted}


def test_evaluating_and_adapting_on_part_of_the_training_root_keeps_it(kaggle_run) -> None:
    from db import runs

    (dataset_id,) = kaggle_run["before"]
    assert _datasets()[dataset_id] == (str(kaggle_run["root"].resolve()), True)
    assert len(_datasets()) == 3  # ROOT, ROOT/test and the site: each its own dataset
    assert runs.get_run(kaggle_run["adapted"]).status == "completed"
    assert_every_image_resolves()


def test_a_thin_class_is_flagged_on_the_run(kaggle_run) -> None:
    with session_scope() as session:
        warning = session.get(Run, kaggle_run["run"]).health_warning
    assert "few training images of a class" in warning and "PNEUMONIA" in warning


def test_no_readable_image_is_one_clear_message(kaggle_run, tmp_path: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    from engine.cli import main as cxr

    gone = tmp_path / "gone"
    copy_subset(gone, per_class=2, seed=9)
    assert cxr(["ingest", str(gone)]) == 0
    for path in gone.rglob("*.jpeg"):
        path.write_bytes(b"")  # emptied after ingest: nothing decodes any more
    capsys.readouterr()
    assert cxr(["evaluate", str(kaggle_run["run"]), "--data", str(gone), "--device",
                "cpu"]) != 0
    err = capsys.readouterr().err
    assert "none of the 4 evaluated images could be read" in err and "cxr ingest" in err
    assert "Traceback" not in err


def test_a_file_gone_at_the_next_ingest_is_marked_skipped(cxr_home: Path, tmp_path: Path) -> None:
    root = copy_subset(tmp_path / "data", per_class=3)
    gone = sorted((root / "NORMAL").iterdir())[0]
    ingest(root)
    gone.unlink()
    assert ingest(root).total == 5
    with session_scope() as session:
        row = session.execute(select(Image.status, Image.skip_reason).where(
            Image.rel_path == f"NORMAL/{gone.name}")).one()
    assert row.status == "skipped" and "no longer under the dataset root" in row.skip_reason
    assert_every_image_resolves()


def test_images_in_subfolders_of_a_class_folder_are_registered(cxr_home: Path,
                                                               tmp_path: Path) -> None:
    """NORMAL/batch-1/x.jpeg is a NORMAL image: never silently left out. A hidden folder is
    left out and a linked folder is not followed (a link back up would loop)."""
    root = copy_subset(tmp_path / "data", per_class=4)
    for class_name in ("NORMAL", "PNEUMONIA"):
        nested = root / class_name / "batch-1" / "deeper"
        nested.mkdir(parents=True)
        for path in sorted((root / class_name).glob("*.jpeg"))[:2]:
            path.rename(nested / path.name)
    (root / "NORMAL" / ".thumbnails").mkdir()
    shutil.copy(next((root / "PNEUMONIA").glob("*.jpeg")), root / "NORMAL" / ".thumbnails")
    (root / "NORMAL" / "loop").symlink_to(root / "NORMAL", target_is_directory=True)
    report = ingest(root)
    assert report.total == 8 and not report.skipped
    with session_scope() as session:
        rows = session.execute(select(Image.rel_path, Image.label)).all()
    nested = sorted((row.rel_path.split("/")[0], row.label) for row in rows
                    if "/batch-1/deeper/" in row.rel_path)
    assert nested == [("NORMAL", 0), ("NORMAL", 0), ("PNEUMONIA", 1), ("PNEUMONIA", 1)]
    assert_every_image_resolves()


def test_an_external_set_holding_training_images_is_flagged(kaggle_run, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture) -> None:
    """Copies of a run's own train images evaluated as "external" would overstate it: the
    evaluation says how many it has seen; the held-out test/ draws no such warning."""
    from engine.evaluation.evaluate import evaluate_run

    copies = tmp_path / "copies"
    shutil.copytree(kaggle_run["root"] / "train", copies)
    capsys.readouterr()
    evaluate_run(kaggle_run["run"], data_dir=str(kaggle_run["root"] / "test"), device="cpu")
    assert "warning:" not in capsys.readouterr().out
    evaluate_run(kaggle_run["run"], data_dir=str(copies), device="cpu")
    out = capsys.readouterr().out
    assert "warning: 24 of 24 images of this external set are identical to images run" in out
