"""Slices on real runs: every slice counts exactly its images, intervals are seeded and hold the
point estimate, tiny slices are never findings, and what a store lacks is a message."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from db import evaluations, gallery, images, runs
from db.audit import Actor
from db.reviews import add_review
from db.slices import slice_frame
from engine.errors import UserError
from engine.evaluation.slice_compare import compare_run_slices
from engine.evaluation.slices import (
    accuracy_interval,
    delta_interval,
    find_slices,
    parse_key,
    run_slices,
    slice_image_ids,
)
from tests.conftest import point_at, run_lacking


@pytest.fixture(autouse=True)
def _trained(trained_home: dict, trained_url: str | None, monkeypatch: pytest.MonkeyPatch):
    point_at(monkeypatch, trained_home["home"], trained_url)


def _truth(run_id: int, split: str) -> tuple[pd.DataFrame, float]:
    """Each prediction with what it should be sliced by, read through other db/ readers."""
    run = runs.get_run(run_id)
    predictions = gallery.evaluation_predictions(evaluations.evaluation_id_for(run_id, split))
    rows = []
    for item in predictions:
        info = images.image_info(item.image_id)
        rows.append({"image_id": item.image_id, "subtype": info.subtype,
                     "label": item.true_label, "outside": item.outside_population,
                     "correct": (item.probability >= run.threshold) == bool(item.true_label)})
    return pd.DataFrame(rows), run.threshold


def test_each_slice_counts_exactly_its_images(trained_home: dict) -> None:
    run_id = trained_home["run_ids"][0]
    truth, _ = _truth(run_id, "val")
    report = run_slices(run_id, "val", min_size=5, pairs=False)
    assert report.size == len(truth)
    assert report.accuracy == pytest.approx(truth.correct.mean())
    by_key = {stat.key: stat for stat in report.slices}
    expected = {"subtype=bacteria": truth.subtype == "bacteria",
                "subtype=virus": truth.subtype == "virus",
                "subtype=normal": truth.subtype.isna() & (truth.label == 0),
                "population=outside": truth.outside == True,  # noqa: E712 - a bool column
                "population=inside": truth.outside == False}  # noqa: E712
    checked = 0
    for key, mask in expected.items():
        if not mask.any():
            assert key not in by_key
            continue
        stat = by_key[key]
        assert (stat.size, stat.errors) == (int(mask.sum()), int((~truth.correct[mask]).sum()))
        assert sorted(slice_image_ids(run_id, "val", key)) == sorted(truth.image_id[mask])
        checked += 1
    assert checked >= 3
    for stat in report.slices:
        assert stat.low <= stat.accuracy <= stat.high
        assert stat.gap == pytest.approx(stat.accuracy - report.accuracy)
        assert stat.finding == (stat.size >= 5 and stat.high < report.accuracy)
    assert run_slices(run_id, "val", min_size=5, pairs=False) == report  # seeded


def test_pairs_are_kept_only_when_worse_than_both_parents(trained_home: dict) -> None:
    report = run_slices(trained_home["run_ids"][1], "val", min_size=3)
    by_key = {stat.key: stat for stat in report.slices}
    for stat in report.slices:
        parts = stat.key.split(";")
        if len(parts) == 2:
            assert stat.size >= 3
            assert all(stat.accuracy < by_key[part].accuracy
                       and stat.size <= by_key[part].size - 3 for part in parts)
    assert [s.gap for s in report.slices if s.enough] == sorted(
        s.gap for s in report.slices if s.enough)


def test_a_slice_filters_the_gallery_to_its_images(trained_home: dict) -> None:
    run_id = trained_home["run_ids"][0]
    evaluation_id = evaluations.evaluation_id_for(run_id, "val")
    threshold = runs.get_run(run_id).threshold
    report = run_slices(run_id, "val", min_size=1, pairs=False)
    stat = next(s for s in report.slices if s.errors and s.size < report.size)
    members = slice_image_ids(run_id, "val", stat.key)
    wrong = sum(gallery.cell_images(evaluation_id, cell, threshold, image_ids=members).total
                for cell in ("fp", "fn"))
    right = sum(gallery.cell_images(evaluation_id, cell, threshold, image_ids=members).total
                for cell in ("tp", "tn"))
    assert (wrong, wrong + right) == (stat.errors, stat.size)
    assert gallery.cell_images(evaluation_id, "tp", threshold, image_ids=[]).total == 0


def test_review_verdicts_become_slices(trained_home: dict) -> None:
    run_id = trained_home["run_ids"][0]
    frame = slice_frame(evaluations.evaluation_id_for(run_id, "val"))
    image_id = int(frame.image_id.iloc[0])
    add_review(image_id, "ambiguous", Actor("slices-test"), "", run_id)
    report = run_slices(run_id, "val", min_size=1, pairs=False)
    keys = {stat.key: stat for stat in report.slices}
    assert image_id in slice_image_ids(run_id, "val", "verdict=ambiguous")
    assert keys["verdict=not reviewed"].size + sum(
        stat.size for key, stat in keys.items()
        if key.startswith("verdict=") and key != "verdict=not reviewed") == report.size


def test_what_an_older_store_lacks_is_a_message(trained_home: dict) -> None:
    """Predictions without the typicality check, images without a recorded size: each missing
    attribute is one line saying why, and the rest is still sliced."""
    frame = slice_frame(evaluations.evaluation_id_for(trained_home["run_ids"][0], "val"))
    older = frame.assign(outside_population=None, width=None, height=None, verdict=None)
    whole, stats, unavailable = find_slices(older, 0.5, min_size=5)
    text = "\n".join(unavailable)
    assert "no typicality check" in text and "sizes were not recorded" in text
    assert "no image here has been reviewed" in text
    assert not any(stat.key.startswith(("population=", "size=", "aspect=")) for stat in stats)
    assert any(stat.key.startswith("subtype=") for stat in stats) and whole.size == len(frame)


def test_two_runs_differ_by_their_flips(trained_home: dict) -> None:
    run_a, run_b = trained_home["run_ids"]
    comparison = compare_run_slices(run_a, run_b, "val", min_size=1, pairs=False)
    pairs = evaluations.paired_predictions(evaluations.evaluation_id_for(run_a, "val"),
                                           evaluations.evaluation_id_for(run_b, "val"))
    labels = pairs.true_label.to_numpy()
    right_a = (pairs.probability_a >= runs.get_run(run_a).threshold).to_numpy() == labels
    right_b = (pairs.probability_b >= runs.get_run(run_b).threshold).to_numpy() == labels
    assert comparison.size == len(pairs)
    subtype = [row for row in comparison.slices if row.key.startswith("subtype=")]
    assert sum(row.a_right_b_wrong for row in subtype) == int((right_a & ~right_b).sum())
    assert sum(row.a_wrong_b_right for row in subtype) == int((~right_a & right_b).sum())
    for row in comparison.slices:
        assert row.delta == pytest.approx(row.accuracy_b - row.accuracy_a)
        assert row.low <= row.delta <= row.high
        assert row.differs == (row.enough and (row.low > 0 or row.high < 0)
                               and row.p_value < 0.05)


def test_bad_requests_are_user_errors(trained_home: dict) -> None:
    with pytest.raises(UserError, match="no completed external evaluation"):
        run_slices(run_lacking("external", trained_home["run_ids"]), "external")
    with pytest.raises(UserError, match="at least 1 image"):
        run_slices(trained_home["run_ids"][0], "val", min_size=0)
    for key in ("", "nonsense", "subtype", "colour=red", "subtype=virus;x=1", None, 3):
        assert parse_key(key) is None
    assert parse_key("subtype=virus;population=outside") == {"subtype": "virus",
                                                             "population": "outside"}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["bacteria", "virus", None]), st.booleans(),
                          st.floats(0, 1), st.integers(1, 6)), min_size=1, max_size=80),
       st.integers(1, 30), st.floats(0.05, 0.95))
def test_no_finding_is_tiny_or_inside_the_whole(rows: list, min_size: int,
                                                threshold: float) -> None:
    frame = pd.DataFrame({
        "image_id": range(len(rows)), "prediction_id": range(len(rows)),
        "true_label": [int(subtype is not None) for subtype, *_ in rows],
        "probability": [p for *_, p, _ in rows], "subtype": [s for s, *_ in rows],
        "outside_population": [o for _, o, *_ in rows], "source_folder": "",
        "width": 224, "height": 224, "patient_images": [n for *_, n in rows], "verdict": None})
    whole, stats, _ = find_slices(frame, threshold, min_size=min_size, n_resamples=200)
    for stat in stats:
        assert 0.0 <= stat.low <= stat.accuracy <= stat.high <= 1.0
        if stat.finding:
            assert stat.size >= min_size and stat.high < whole.accuracy


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 500), st.data())
def test_intervals_hold_the_estimate(size: int, data: st.DataObject) -> None:
    correct = data.draw(st.integers(0, size))
    low, high = accuracy_interval(correct, size, np.random.default_rng(0), 300)
    assert 0 <= low <= correct / size <= high <= 1
    gained = data.draw(st.integers(0, size))
    lost = data.draw(st.integers(0, size - gained))
    low, high = delta_interval(gained, lost, size, np.random.default_rng(0), 300)
    assert -1 <= low <= (gained - lost) / size <= high <= 1
