"""Advice that works for the kind of run: an external model (no features) and a crossval run (one
model per fold) are never told to `cxr evaluate`, which refuses them; a trained run still is.
And the Map page counts a point selected twice once."""

from __future__ import annotations

import pytest

from dashboard.map_views import chosen_points
from db import evaluations, feature_map, reports, runs
from db.runs import EXTERNAL_ARCH, RunInfo
from engine.cli.main import main
from engine.evaluation import advice
from engine.report import content

KINDS = {
    "external": (RunInfo(3, "imported", EXTERNAL_ARCH, "completed", {}, 0, 1, 1, None, None, 0.5,
                         "youden"), "external model: no features"),
    "crossval": (RunInfo(2, "cv", "small_cnn", "completed", {"origin": "crossval", "folds": 3}, 0,
                         1, 1, None, None, 0.5, "youden"), "it has one model per fold"),
}
TRAINED = RunInfo(1, "trained", "small_cnn", "completed", {}, 0, 1, 1, "ckpt.pt", None, 0.5,
                  "youden")


@pytest.fixture
def store_of(monkeypatch: pytest.MonkeyPatch):
    def use(run: RunInfo) -> RunInfo:
        monkeypatch.setattr(runs, "get_run", lambda run_id: run)
        monkeypatch.setattr(evaluations, "evaluation_id_for", lambda run_id, split: None)
        monkeypatch.setattr(feature_map, "evaluation_with_image", lambda run_id, image: None)
        monkeypatch.setattr(reports, "reported_evaluation", lambda run_id, split: None)
        monkeypatch.setattr(content, "get_run", lambda run_id: run)
        return run
    return use


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("command", [["map"], ["lookalikes", "7"]])
def test_map_and_lookalikes_say_why_not_re_evaluate(store_of, capsys: pytest.CaptureFixture,
                                                    kind: str, command: list[str]) -> None:
    run, words = KINDS[kind]
    store_of(run)
    assert main([command[0], str(run.id), *command[1:]]) == 2
    error = capsys.readouterr().err
    assert words in error, error
    assert "cxr evaluate" not in error, error


@pytest.mark.parametrize("kind", KINDS)
def test_report_and_slices_advice_never_says_evaluate(store_of, kind: str) -> None:
    from engine.evaluation.slices import evaluation_frame

    run, _ = KINDS[kind]
    store_of(run)
    for call in (lambda: content.run_section(run.id, "test"),
                 lambda: evaluation_frame(run.id, "test")):
        with pytest.raises(Exception) as raised:  # noqa: PT011 - a UserError from either layer
            call()
        assert "cxr evaluate" not in str(raised.value), raised.value
        assert f"run {run.id} is a" in str(raised.value)


def test_messages_by_kind() -> None:
    assert "external model: no features" in advice.missing_map(KINDS["external"][0], "test")
    crossval = advice.missing_lookalikes(KINDS["crossval"][0])
    assert "one model per fold" in crossval and "cxr label-issues 2" in crossval
    assert "maps are kept for trained runs" in crossval
    assert "`cxr evaluate 1 --split test`" in advice.missing_map(TRAINED, "test")
    assert "`cxr evaluate 1`" in advice.missing_lookalikes(TRAINED)


def test_a_point_selected_twice_counts_once() -> None:
    points = [{"customdata": 5}, {"customdata": 5}, {"customdata": 9}, {"customdata": True}, {}]
    chosen, total = chosen_points({"points": points})
    assert chosen == [5, 9] and total == 2
    assert chosen_points(None) == ([], 0)
