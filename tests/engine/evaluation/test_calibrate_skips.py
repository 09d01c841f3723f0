"""`cxr calibrate --data` says which of the sample's files it skipped: a text file, an
undecodable JPEG, identical images filed under both labels (and why none are left)."""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

import pytest

from tests.conftest import point_at


@pytest.fixture
def store_copy(site_calibrated: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """A copy of the site-calibrated store (SQLite), so the runs made here stay here."""
    if site_calibrated["url"]:
        pytest.skip("copies the SQLite store")
    home = tmp_path / "home"
    shutil.copytree(site_calibrated["home"], home)
    point_at(monkeypatch, home, None)
    return site_calibrated


def _calibrate(run_id: int, data: Path) -> tuple[int, str, str]:
    from engine.cli import main as cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli(["calibrate", str(run_id), "--data", str(data), "--device", "cpu"])
    return code, out.getvalue(), err.getvalue()


def test_skipped_sample_files_are_counted_and_named(store_copy: dict, tmp_path: Path) -> None:
    sample = tmp_path / "sample"
    shutil.copytree(store_copy["sample"], sample)
    (sample / "NORMAL" / "notes.png").write_text("a text file, not an image")
    (sample / "PNEUMONIA" / "broken.jpeg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    code, out, err = _calibrate(store_copy["source"], sample)
    assert code == 0, err
    line = next(line for line in out.splitlines() if "were skipped" in line)
    assert line.startswith("warning: 2 files of the site sample")
    assert "notes.png" in line and "broken.jpeg" in line


def test_identical_images_under_both_labels_say_why_none_are_left(store_copy: dict,
                                                                   tmp_path: Path) -> None:
    dupes = tmp_path / "dupes"
    for class_name in ("NORMAL", "PNEUMONIA"):
        (dupes / class_name).mkdir(parents=True)
        for path in sorted((store_copy["sample"] / "NORMAL").glob("*.png"))[:3]:
            shutil.copy(path, dupes / class_name / path.name)
    code, _, err = _calibrate(store_copy["source"], dupes)
    assert code == 2 and "Traceback" not in err
    assert "0 NORMAL and 0 PNEUMONIA" in err
    assert "6 files of the site sample" in err and "identical images under both labels" in err
