"""`cxr attention`: where a run's CAMs look per confusion cell, at the stored or a finer layer."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import UserError
from engine.evaluation.perturbations import apply_shift
from engine.explain.attention import border_band, energy_share
from engine.explain.cell_attention import (
    CELLS,
    FAITHFUL_ROAD,
    AttentionReport,
    CellAttention,
    cell_attention,
    corner_boxes,
    verdicts,
)
from tests.conftest import point_at


def test_corner_boxes_hold_a_marker_corner_and_not_the_middle() -> None:
    cam = np.zeros((40, 40), np.float32)
    cam[1:5, 1:5] = 1.0  # a hot spot on an upper-left marker
    assert energy_share(cam, corner_boxes(40, 40)) == 1.0
    assert energy_share(cam, border_band(40, 40)) == 1.0
    middle = np.zeros((40, 40), np.float32)
    middle[15:25, 15:25] = 1.0
    assert energy_share(middle, corner_boxes(40, 40)) == 0.0
    side = np.zeros((40, 40), np.float32)
    side[15:25, 0:3] = 1.0  # the chest wall at the film's edge: border, not corner
    assert energy_share(side, corner_boxes(40, 40)) == 0.0
    assert energy_share(side, border_band(40, 40)) == 1.0


def test_a_shift_seeded_per_image_is_the_same_however_the_images_are_batched() -> None:
    films = np.random.default_rng(0).integers(0, 255, (6, 64, 64), dtype=np.uint8)
    ids = [11, 12, 30, 31, 32, 47]
    whole = apply_shift("marker", films, seeds=ids)
    halves = np.concatenate([apply_shift("marker", films[:2], seeds=ids[:2]),
                             apply_shift("marker", films[2:], seeds=ids[2:])])
    assert (whole == halves).all()


def test_cells_partition_the_evaluation_and_read_the_stored_cams(
        trained_home: dict, trained_url: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    from db import evaluations, gallery
    from db.session import artifacts_root

    point_at(monkeypatch, trained_home["home"], trained_url)
    run_id = trained_home["run_ids"][1]
    report = cell_attention(run_id, "val", per_cell=4)
    rows = gallery.evaluation_predictions(report.evaluation_id)
    assert report.evaluation_id == evaluations.evaluation_id_for(run_id, "val")
    assert [c.cell for c in report.cells] == list(CELLS)
    assert sum(c.images for c in report.cells) == len(rows)
    for cell in report.cells:
        true, predicted = CELLS[cell.cell]
        members = [r for r in rows if (r.true_label, r.predicted_label) == (true, predicted)]
        assert cell.images == len(members) and cell.sampled == min(4, len(members))
        if len(members) == 1:  # one image: the mean is that image's stored CAM
            cam = np.load(artifacts_root() / members[0].cam_raw_path)
            assert cell.border_share == pytest.approx(energy_share(cam, border_band(*cam.shape)))
        if cell.sampled:
            assert 0.0 <= cell.border_share <= 1.0 and 0.0 <= cell.corner_share <= 1.0
        assert cell.road is None
    # One image per cell: "above 0.5" is that image's yes or no.
    one = cell_attention(run_id, "val", per_cell=1, seed=3)
    for cell in one.cells:
        if cell.sampled:
            assert cell.border_over_half in (0.0, 1.0)


def test_the_fine_layer_doubles_the_grid_and_road_scores_every_sampled_cell(
        trained_home: dict, trained_url: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    point_at(monkeypatch, trained_home["home"], trained_url)
    run_id = trained_home["run_ids"][1]
    last = cell_attention(run_id, "val", per_cell=3, road=True)
    fine = cell_attention(run_id, "val", per_cell=3, layer="fine")
    assert fine.grid == (2 * last.grid[0], 2 * last.grid[1])
    assert [c.sampled for c in fine.cells] == [c.sampled for c in last.cells]
    for cell in last.cells:
        assert (cell.road is not None and np.isfinite(cell.road)) == (cell.sampled > 0)
    sampled = [(a, b) for a, b in zip(last.cells, fine.cells, strict=True) if a.sampled]
    assert any(abs(a.border_share - b.border_share) > 1e-6 for a, b in sampled)
    # With ROAD, each predicted class that was sampled gets a reading; without, a pointer to it.
    calls = {"pneumonia calls": ("TP", "FP"), "normal calls": ("TN", "FN")}
    sampled_calls = [name for name, cells in calls.items()
                     if any(c.sampled for c in last.cells if c.cell in cells)]
    read = [line for line in verdicts(last) if "ROAD" in line]
    assert [line.split(":")[0] for line in read] == sampled_calls
    assert all("--road" in line for line in verdicts(fine) if line.split(":")[0] in calls)


def _report(road_positive: float | None, road_negative: float | None,
            grid: tuple[int, int]) -> AttentionReport:
    def cell(name: str, border: float, road: float | None) -> CellAttention:
        return CellAttention(name, 10, 10, border, 0.5, 0.2, 0.3, road)

    return AttentionReport(1, 1, "last", grid, [
        cell("TP", 0.5, road_positive), cell("FP", 0.6, road_positive),
        cell("TN", 0.3, road_negative), cell("FN", 0.3, road_negative)])


def test_verdicts_read_each_predicted_class_by_its_road() -> None:
    lines = verdicts(_report(0.05, 0.4, (4, 4)))
    assert lines[0].startswith("a 4x4 grid")
    assert lines[1].startswith("pneumonia calls: border share 0.550, ROAD 0.050")
    assert "attention, not the evidence" in lines[1]
    assert lines[2].startswith("normal calls: border share 0.300, ROAD 0.400")
    assert "is evidence" in lines[2]
    # A finer grid carries no grid note; the threshold itself counts as attention.
    lines = verdicts(_report(FAITHFUL_ROAD, FAITHFUL_ROAD + 0.01, (8, 8)))
    assert [("attention, not" in line, "is evidence" in line) for line in lines] == [
        (True, False), (False, True)]
    assert all("--road" in line for line in verdicts(_report(None, None, (8, 8))))


def test_missing_evaluations_and_bad_values_say_what_to_run(
        trained_home: dict, trained_url: str | None, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    from engine.cli.main import main

    point_at(monkeypatch, trained_home["home"], trained_url)
    run_id = trained_home["run_ids"][1]
    with pytest.raises(UserError, match=rf"cxr evaluate {run_id} --shift marker"):
        cell_attention(run_id, shift="marker")
    with pytest.raises(UserError, match="--per-cell must be at least 1"):
        cell_attention(run_id, per_cell=0)
    assert main(["attention", str(run_id), "--shift", "no-such-shift"]) == 2
    assert "unknown --shift 'no-such-shift'" in capsys.readouterr().err
    assert main(["attention", str(run_id), "--per-cell", "2", "--csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("cell,images,sampled,border_share")
    assert [line.split(",")[0] for line in lines[1:]] == list(CELLS)
    assert not any("nan" in line for line in lines)  # an empty cell or no ROAD: empty fields
    assert main(["attention", str(run_id), "--shift", ""]) == 2  # not plain val
    assert "unknown --shift ''" in capsys.readouterr().err
    assert main(["attention", str(run_id), "--shift", "marker", "--split", "test"]) == 2
    assert "--split test cannot go with it" in capsys.readouterr().err


def _every_val_cell(trained_home: dict, trained_url: str | None,
                    monkeypatch: pytest.MonkeyPatch) -> tuple[int, AttentionReport, list]:
    """The trained store's run, its val attention with every image sampled, and its rows."""
    from db import gallery

    point_at(monkeypatch, trained_home["home"], trained_url)
    run_id = trained_home["run_ids"][1]
    full = cell_attention(run_id, "val", per_cell=100)
    return run_id, full, gallery.evaluation_predictions(full.evaluation_id)


def test_missing_images_and_cams_are_left_out_and_said(
        trained_home: dict, trained_url: str | None, monkeypatch: pytest.MonkeyPatch,
        tmp_path, capsys: pytest.CaptureFixture) -> None:
    import shutil

    from db import images
    from db.session import artifacts_root
    from engine.cli.main import main

    run_id, full, rows = _every_val_cell(trained_home, trained_url, monkeypatch)
    cam = artifacts_root() / rows[0].cam_raw_path
    film = images.image_files([rows[1].image_id])[rows[1].image_id].path
    moved = [(cam, tmp_path / "cam.npy"), (film, tmp_path / "film")]
    try:
        for source, target in moved:
            shutil.move(source, target)
        report = cell_attention(run_id, "val", per_cell=100)
        assert sum(c.missing for c in report.cells) == 2
        assert sum(c.sampled for c in report.cells) == sum(c.sampled for c in full.cells) - 2
        assert main(["attention", str(run_id), "--per-cell", "100"]) == 0
        captured = capsys.readouterr()
        assert "2 sampled images or their stored Grad-CAMs are no longer on disk" in captured.err
        assert "Traceback" not in captured.out + captured.err
    finally:
        for source, target in moved:
            shutil.move(target, source)


def test_an_all_zero_cam_is_counted_apart_and_never_prints_nan(
        trained_home: dict, trained_url: str | None, monkeypatch: pytest.MonkeyPatch,
        tmp_path, capsys: pytest.CaptureFixture) -> None:
    import shutil

    from db.session import artifacts_root
    from engine.cli.main import main

    run_id, _, rows = _every_val_cell(trained_home, trained_url, monkeypatch)
    cam = artifacts_root() / rows[0].cam_raw_path
    shutil.copy(cam, tmp_path / "cam.npy")
    try:
        np.save(cam, np.zeros_like(np.load(cam)))
        report = cell_attention(run_id, "val", per_cell=100)
        cell = next(c for c in report.cells if c.empty)
        assert sum(c.empty for c in report.cells) == 1 and cell.sampled >= 1
        if cell.sampled > 1:  # the shares and border>0.5 are over the other CAMs alone
            assert np.isfinite(cell.border_share) and 0 <= cell.border_over_half <= 1
        assert main(["attention", str(run_id), "--per-cell", "100"]) == 0
        captured = capsys.readouterr()
        assert "1 sampled Grad-CAMs are all zeros" in captured.err
        assert "nan" not in captured.out and "Traceback" not in captured.err
    finally:
        shutil.copy(tmp_path / "cam.npy", cam)


def test_verdicts_leave_out_cells_whose_cams_are_all_empty() -> None:
    report = _report(0.05, 0.4, (8, 8))
    cells = [CellAttention("TP", 10, 10, 0.5, 0.5, 0.2, 0.3, 0.05),
             CellAttention("FP", 3, 3, float("nan"), float("nan"), float("nan"), float("nan"),
                           None, empty=3), *report.cells[2:]]
    lines = verdicts(AttentionReport(1, 1, "last", (8, 8), cells))
    assert lines[0].startswith("pneumonia calls: border share 0.500, ROAD 0.050")
    assert not any("nan" in line for line in lines)
