"""An external evaluation of a site-calibrated run says how many of its images are identical
to the run's site-calibration sample (the sample itself, or byte-identical copies of it)."""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

import pytest

from tests.conftest import point_at

IN_SAMPLE = "identical to images of the site sample run"


@pytest.fixture
def store_copy(site_calibrated: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """A copy of the site-calibrated store (SQLite), so the evaluations here stay here."""
    if site_calibrated["url"]:
        pytest.skip("copies the SQLite store")
    home = tmp_path / "home"
    shutil.copytree(site_calibrated["home"], home)
    point_at(monkeypatch, home, None)
    return site_calibrated


def _evaluate(run_id: int, data: Path) -> str:
    from engine.cli import main as cli

    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        assert cli(["evaluate", str(run_id), "--data", str(data), "--device", "cpu"]) == 0
    return output.getvalue()


def test_the_sample_and_its_copies_are_flagged(store_copy: dict, tmp_path: Path) -> None:
    run_id, sample = store_copy["calibrated"], store_copy["sample"]
    n_sample = sum(1 for path in sample.rglob("*.png"))
    assert f"{n_sample} of {n_sample} images of this external set are {IN_SAMPLE}" in (
        _evaluate(run_id, sample))
    copy = tmp_path / "copy"
    shutil.copytree(sample, copy)
    assert f"{n_sample} of {n_sample} images of this external set are {IN_SAMPLE}" in (
        _evaluate(run_id, copy))
    # The rest of the site shares no image with the sample: no such warning for it.
    assert IN_SAMPLE not in _evaluate(run_id, store_copy["rest"])
    assert IN_SAMPLE not in _evaluate(store_copy["source"], copy)  # not calibrated there


def test_calibrate_evaluate_on_copies_of_the_sample_warns(store_copy: dict,
                                                          tmp_path: Path) -> None:
    from engine.cli import main as cli

    sample, copy = store_copy["sample"], tmp_path / "copy"
    shutil.copytree(sample, copy)
    n_sample = sum(1 for path in sample.rglob("*.png"))
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        assert cli(["calibrate", str(store_copy["source"]), "--data", str(sample),
                    "--evaluate", str(copy), "--device", "cpu"]) == 0
    # Once for the sample itself (in-sample by design), once for the copies passed as the rest.
    assert output.getvalue().count(
        f"{n_sample} of {n_sample} images of this external set are {IN_SAMPLE}") == 2
