"""`cxr slices`: the table and the CSV say what the engine computed; bad input is one line and
exit 2."""

from __future__ import annotations

import csv
import io

import pytest

from engine.cli.main import EXIT_USER_ERROR, main
from engine.evaluation.slice_compare import compare_run_slices
from engine.evaluation.slices import run_slices
from tests.conftest import point_at, run_lacking


@pytest.fixture(autouse=True)
def _trained(trained_home: dict, trained_url: str | None, monkeypatch: pytest.MonkeyPatch):
    point_at(monkeypatch, trained_home["home"], trained_url)


def test_csv_lists_every_slice(trained_home: dict, capsys: pytest.CaptureFixture) -> None:
    run_id = trained_home["run_ids"][0]
    assert main(["slices", str(run_id), "--split", "val", "--min-size", "5", "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    report = run_slices(run_id, "val", min_size=5)
    assert [row["key"] for row in rows] == [stat.key for stat in report.slices]
    assert [int(row["size"]) for row in rows] == [stat.size for stat in report.slices]
    assert [row["finding"] for row in rows] == [str(stat.finding) for stat in report.slices]


def test_table_and_comparison(trained_home: dict, capsys: pytest.CaptureFixture) -> None:
    run_a, run_b = trained_home["run_ids"]
    assert main(["slices", str(run_a), "--split", "val", "--no-pairs"]) == 0
    out = capsys.readouterr().out
    report = run_slices(run_a, "val", pairs=False)
    assert f"run {run_a} on val: {report.size} images" in out
    assert f"{len(report.findings)} found" in out
    assert all(stat.label in out for stat in report.slices)
    assert main(["slices", str(run_a), "--split", "val", "--compare", str(run_b), "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    comparison = compare_run_slices(run_a, run_b, "val")
    assert [(row["key"], int(row["a_right_b_wrong"]), int(row["a_wrong_b_right"]))
            for row in rows] == [(row.key, row.a_right_b_wrong, row.a_wrong_b_right)
                                 for row in comparison.slices]


@pytest.mark.parametrize(("args", "message"), [
    (["slices", "999999"], "run 999999 does not exist"),
    (["slices", "RUN0", "--split", "external"], "no completed external evaluation"),
    (["slices", "RUN0", "--min-size", "0"], "--min-size 0"),
    (["slices", "RUN0", "--compare", "999999"], "run 999999 does not exist"),
])
def test_bad_input_is_one_line_and_exit_2(trained_home: dict, capsys: pytest.CaptureFixture,
                                          args: list[str], message: str) -> None:
    run_id = run_lacking("external", trained_home["run_ids"])
    args = [str(run_id) if arg == "RUN0" else arg for arg in args]
    assert main(args) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
