"""Attention in the dashboard: filter and sort, shortcut suspects, run-level CAM figures,
the lung outline, and how two runs' attention differs, on a store filled by the real engine."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from dashboard import attention_files, figures, views
from db import attention, evaluations, gallery, images
from db.models import Prediction
from db.session import artifacts_root, session_scope
from engine.data.decode import decode_file, resize
from engine.evaluation import stats
from engine.evaluation.perturbations import apply_shift
from engine.explain.attention import energy_share
from engine.explain.lungmask import lung_mask


@pytest.fixture
def test_evaluation(trained_home: dict) -> int:
    return evaluations.evaluation_id_for(trained_home["run_ids"][0], "test")


def _everything(evaluation_id: int, cell: str, threshold: float = 0.5,
                min_outside: float = 0.0, sort: str = "probability_desc") -> list:
    return gallery.cell_images(evaluation_id, cell, threshold, sort, limit=10_000,
                               min_outside=min_outside).items


def test_attention_filter_keeps_exactly_the_images_looking_outside(
        test_evaluation: int) -> None:
    known = 0
    for cell in gallery.CELLS:
        items = _everything(test_evaluation, cell)
        # Computed in the evaluation pass; NULL only where the CAM had no energy at all (an
        # undertrained small CNN has a few of those).
        known += sum(item.lung_share is not None for item in items)
        for min_outside in (0.5, 0.75, 0.9):
            page = gallery.cell_images(test_evaluation, cell, 0.5, "probability_desc",
                                       limit=10_000, min_outside=min_outside)
            total, kept = page.total, page.items
            expected = [item.image_id for item in items if item.lung_share is not None
                        and item.lung_share <= 1.0 - min_outside]
            assert [item.image_id for item in kept] == expected and total == len(expected)
            assert all(item.outside_lungs >= min_outside - 1e-12 for item in kept)
    assert known > 0


def test_outside_lungs_sort_and_paging(test_evaluation: int) -> None:
    items = _everything(test_evaluation, "tp", 0.0, sort="outside_lungs_first")
    shares = [item.lung_share for item in items if item.lung_share is not None]
    assert shares == sorted(shares) and len(items) > 5
    assert all(item.lung_share is None for item in items[len(shares):])  # unknown ones last
    pages = [gallery.cell_images(test_evaluation, "tp", 0.0, "outside_lungs_first", limit=4,
                                 offset=offset).items for offset in range(0, len(items), 4)]
    assert [i.image_id for page in pages for i in page] == [i.image_id for i in items]


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_suspects_are_the_correct_predictions_looking_outside(test_evaluation: int,
                                                              threshold: float) -> None:
    correct = {item.image_id: item for cell in ("tn", "tp")
               for item in _everything(test_evaluation, cell, threshold)}
    suspects = _everything(test_evaluation, gallery.SUSPECTS, threshold)
    assert {item.image_id for item in suspects} == set(correct)  # no filter: every correct one
    known = [item for item in correct.values() if item.lung_share is not None]
    cutoff = float(np.median([item.outside_lungs for item in known]))
    filtered = _everything(test_evaluation, gallery.SUSPECTS, threshold, cutoff,
                           "outside_lungs_first")
    expected = sorted((item for item in known if item.lung_share <= 1 - cutoff),
                      key=lambda item: (item.lung_share, -item.probability))
    assert [item.image_id for item in filtered] == [item.image_id for item in expected]
    assert 0 < len(filtered) <= len(known) <= len(correct)
    by_confidence = _everything(test_evaluation, gallery.SUSPECTS, threshold,
                                sort="confident_first")
    distances = [abs(item.probability - threshold) for item in by_confidence]
    assert distances == sorted(distances, reverse=True)


def test_run_level_figures_match_the_engines_summary(test_evaluation: int) -> None:
    figures_ = attention.evaluation_attention(test_evaluation)
    summary = {group.group: group for group in attention.attention_summary(test_evaluation)}
    assert np.isclose(figures_["cam_lung_share"], summary["all"].lung_share_mean)
    assert np.isclose(figures_["cam_border_share"], summary["all"].border_share_mean)
    assert np.isclose(figures_["cam_peak_in_lung"], summary["all"].peak_in_lung_rate)
    for group in ("correct", "wrong"):
        expected = summary[group].lung_share_mean
        got = figures_[f"cam_lung_share_{group}"]
        assert (got is None and expected is None) or np.isclose(got, expected)
    assert figures_["cam_road"] is None and figures_["cam_road_n"] == 0  # no ROAD pass yet
    assert figures_["cam_lesion_hit"] is None  # real images: no lesion masks
    assert attention.evaluation_attention(test_evaluation) == figures_  # cached, same answer


def test_attention_by_run_reads_each_runs_newest_evaluation(trained_home: dict) -> None:
    found = attention.attention_by_run(trained_home["run_ids"] + [10**6], "val")
    assert set(found) == set(trained_home["run_ids"])
    for run_id, figures_ in found.items():
        evaluation_id = evaluations.evaluation_id_for(run_id, "val")
        assert figures_ == attention.evaluation_attention(evaluation_id)
        assert 0 <= figures_["cam_lung_share"] <= 1 and 0 <= figures_["cam_peak_in_lung"] <= 1


def test_lung_share_histogram_compares_runs(trained_home: dict) -> None:
    series = []
    for run_id in trained_home["run_ids"]:
        shares = attention.lung_shares(evaluations.evaluation_id_for(run_id, "test"))
        assert len(shares) and shares.lung_share.between(0, 1).all()
        series.append({"name": f"run {run_id}", "values": shares.lung_share})
    figure = figures.lung_share_histogram(series)
    assert [trace.name for trace in figure.data] == [item["name"] for item in series]
    assert figure.data[0].histnorm == "percent"
    assert figures.lung_share_histogram([]).layout.annotations


def test_compare_attention_scatter(trained_home: dict) -> None:
    run_a, run_b = trained_home["run_ids"]
    pairs = evaluations.paired_predictions(evaluations.evaluation_id_for(run_a, "test"),
                                       evaluations.evaluation_id_for(run_b, "test"))
    cells = stats.agreement_cells(pairs.true_label.to_numpy(), pairs.probability_a >= 0.5,
                                  pairs.probability_b.to_numpy() >= 0.5)
    pairs = pairs.assign(agreement=stats.agreement_labels(cells))
    assert pairs.agreement.notna().all()
    assert (pairs.agreement == "right-wrong").sum() == cells["right-wrong"].sum()
    figure = figures.attention_scatter(pairs, "A", "B")
    plotted = sorted(int(i) for trace in figure.data[1:] for i in trace.customdata)
    both = pairs.dropna(subset=["lung_share_a", "lung_share_b"])
    assert plotted == sorted(both.image_id.tolist()) and plotted
    for trace in figure.data[1:]:  # each dot is its image's lung share under A and under B
        for image_id, x, y in zip(trace.customdata, trace.x, trace.y, strict=True):
            row = pairs[pairs.image_id == image_id].iloc[0]
            assert (x, y) == (row.lung_share_a, row.lung_share_b)
    assert "Mean lung share A" in str(views.attention_difference(pairs))


def _cam_files(prediction_id: int) -> tuple[int, str]:
    """(image id, raw CAM path) of a prediction, read straight from the store."""
    with session_scope() as session:
        prediction = session.get(Prediction, prediction_id)
        return prediction.image_id, prediction.cam_raw_path


def _filled(outline: dict) -> np.ndarray:
    """The stored outline's polygons filled back into a mask at the CAM's size."""
    mask = np.zeros((outline["height"], outline["width"]), np.uint8)
    cv2.fillPoly(mask, [np.asarray(polygon, np.int32).reshape(-1, 1, 2)
                        for polygon in outline["polygons"]], 1)
    return mask.astype(bool)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_lung_outline_is_stored_with_the_lung_share_it_was_measured_for(
        client, test_evaluation: int) -> None:
    item = next(item for item in _everything(test_evaluation, "tp", 0.0)
                if item.lung_share is not None)
    image_id, cam_raw_path = _cam_files(item.prediction_id)
    stored = gallery.prediction(item.prediction_id)
    located = images.image_file(image_id)
    root, relative = located.root, located.rel_path
    cam = np.load(artifacts_root() / cam_raw_path).astype(np.float32)
    gray = resize(decode_file(f"{root}/{relative}"), cam.shape[0])
    # The evaluation kept the outline of the very mask it measured the lung share against.
    assert (stored.lung_outline["height"], stored.lung_outline["width"]) == cam.shape
    assert _iou(_filled(stored.lung_outline), lung_mask(gray)) > 0.95
    assert np.isclose(energy_share(cam, _filled(stored.lung_outline)), item.lung_share,
                      atol=0.03)
    response = client.get(f"/attention/lung-outline/{item.prediction_id}")
    assert response.status_code == 200 and response.mimetype == "image/png"
    served = np.asarray(Image.open(io.BytesIO(response.data)).convert("RGB"))
    overlay = np.asarray(Image.open(artifacts_root() / stored.cam_path).convert("RGB"))
    assert np.array_equal(served, attention_files.outline_overlay(overlay, stored.lung_outline))
    cyan = (served[..., 0] < 60) & (served[..., 1] > 200) & (served[..., 2] > 200)
    assert cyan.sum() > 50  # the outline is drawn
    assert client.get("/attention/lung-outline/999999999").status_code == 404
    panel = str(views.image_panel(images.image_info(image_id), item,
                                  images.image_predictions(image_id), [], None, 0.5))
    assert f"/attention/lung-outline/{item.prediction_id}" in panel
    assert f"lung share {item.lung_share:.0%}" in panel


def test_a_shifted_evaluation_keeps_the_outline_of_the_pixels_it_measured(
        quality_home: dict) -> None:
    """Under a shift the model saw (and the lung share was measured on) the shifted image;
    recomputing the mask from the file on disk would outline another region."""
    evaluation_id = quality_home["shift_evaluation"]
    items = [item for cell in gallery.CELLS for item in _everything(evaluation_id, cell, 0.0)]
    checked = 0
    for item in items[:12]:
        image_id, cam_raw_path = _cam_files(item.prediction_id)
        located = images.image_file(image_id)
        root, relative = located.root, located.rel_path
        size = np.load(artifacts_root() / cam_raw_path).shape[0]
        gray = resize(decode_file(f"{root}/{relative}"), size)
        shifted = apply_shift("blur", gray[None], seed=image_id)[0]
        outline = gallery.prediction(item.prediction_id).lung_outline
        assert _iou(_filled(outline), lung_mask(shifted)) > 0.95
        checked += 1
    assert checked > 0


def test_gallery_tiles_show_attention_outside_the_lungs(test_evaluation: int) -> None:
    items = [item for item in _everything(test_evaluation, "tp", 0.0)
             if item.lung_share is not None][:3]
    rendered = str(views.gallery(items, overlay=False, selected_image=None))
    assert f"{items[0].outside_lungs:.0%} outside lungs" in rendered
