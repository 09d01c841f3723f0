"""`cxr label-issues RUN`: the queue's list on the command line, and clear refusals."""

from __future__ import annotations

import csv
import io

import pytest

from engine.cli.main import main
from tests.conftest import point_at


@pytest.fixture
def crossval_store(crossval_home: dict, monkeypatch: pytest.MonkeyPatch) -> dict:
    point_at(monkeypatch, crossval_home["home"], crossval_home["url"])
    return crossval_home


def _csv(run_id: int, capsys: pytest.CaptureFixture, *extra: str) -> list[dict]:
    assert main(["label-issues", str(run_id), "--csv", *extra]) == 0
    return list(csv.DictReader(io.StringIO(capsys.readouterr().out)))


def test_lists_flagged_images_in_rank_order_and_reviewed_ones_leave(
        crossval_store: dict, capsys: pytest.CaptureFixture) -> None:
    from db import label_issues
    from db.audit import Actor
    from db.reviews import add_review

    run_id = crossval_store["run_id"]
    queue = label_issues.label_queue(run_id, limit=5)
    assert queue.flagged > 0, "the tiny model should leave some labels in doubt"
    rows = _csv(run_id, capsys, "--top", "5")
    assert [int(row["image_id"]) for row in rows] == [item.image_id for item in queue.items]
    assert [int(row["rank"]) for row in rows] == sorted(int(row["rank"]) for row in rows)
    assert {row["given_label"] for row in rows} <= {"NORMAL", "PNEUMONIA"}
    assert all(row["suspected"] == "yes" for row in rows)
    first = int(rows[0]["image_id"])
    add_review(first, "label error", Actor("cli-test"), run_id=run_id)
    after = _csv(run_id, capsys, "--top", "5")
    assert first not in {int(row["image_id"]) for row in after}
    assert main(["label-issues", str(run_id), "--top", "3"]) == 0
    table = capsys.readouterr().out
    assert f"{queue.reviewed + 1} already reviewed" in table and "oof_probability" in table
    every = _csv(run_id, capsys, "--all-ranked", "--top", "1000")
    unreviewed = label_issues.label_queue(run_id, limit=1000, only_suspected=False).items
    assert [int(row["image_id"]) for row in every] == [item.image_id for item in unreviewed]
    assert first not in {int(row["image_id"]) for row in every}


@pytest.mark.parametrize(("args", "message"), [
    (["label-issues", "999999"], "run 999999 does not exist"),
    (["label-issues", "{run}", "--top", "0"], "--top 0"),
    (["crossval", "--folds", "1", "--data", "."], "at least 2 folds"),
])
def test_bad_input_is_one_line_and_exit_2(crossval_store: dict, capsys: pytest.CaptureFixture,
                                         args: list[str], message: str) -> None:
    args = [arg.format(run=crossval_store["run_id"]) for arg in args]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_run_never_cross_validated_says_what_to_run(crossval_store: dict,
                                                      capsys: pytest.CaptureFixture) -> None:
    from db import runs

    run = runs.get_run(crossval_store["run_id"])
    trained = runs.create_run("plain", "small_cnn", {"image_size": 64}, 0, "cpu",
                              run.dataset_id, run.split_id, code_version="test")
    assert main(["label-issues", str(trained)]) == 2
    err = capsys.readouterr().err
    assert "was not made by cxr crossval" in err and "cxr crossval --data DIR" in err
