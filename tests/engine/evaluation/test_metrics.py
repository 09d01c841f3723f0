"""engine.evaluation.metrics agrees with scikit-learn and with hand-checkable cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

from engine.evaluation.metrics import (
    binary_metrics,
    expected_calibration_error,
    roc_points,
    sensitivity_threshold,
    threshold_free_metrics,
    youden_threshold,
)


@pytest.fixture
def scores() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    p = np.clip(0.35 * y + rng.normal(0.35, 0.2, 500), 0, 1)
    return y, p


def test_binary_metrics_match_sklearn(scores) -> None:
    y, p = scores
    m = binary_metrics(y, p, threshold=0.5)
    pred = (p >= 0.5).astype(int)
    assert m.accuracy == pytest.approx(accuracy_score(y, pred))
    assert m.f1 == pytest.approx(f1_score(y, pred))
    assert m.roc_auc == pytest.approx(roc_auc_score(y, p))
    assert m.tp + m.fn == y.sum() and m.tn + m.fp == (1 - y).sum()
    assert m.sensitivity == pytest.approx(m.tp / (m.tp + m.fn))
    assert m.specificity == pytest.approx(m.tn / (m.tn + m.fp))


@pytest.mark.parametrize("threshold", [0.0, 0.2, 0.5, 0.77, 1.0, 1.01])
def test_ratios_equal_sklearn_scorers_at_every_threshold(scores, threshold) -> None:
    """The confusion-matrix ratios are sklearn's scorers (zero_division=0), to the last bit,
    including thresholds where nothing or everything is called positive."""
    y, p = scores
    m = binary_metrics(y, p, threshold)
    pred = (p >= threshold).astype(int)
    assert m.accuracy == pytest.approx(accuracy_score(y, pred), abs=1e-12)
    assert m.precision == pytest.approx(precision_score(y, pred, zero_division=0), abs=1e-12)
    assert m.sensitivity == pytest.approx(recall_score(y, pred, zero_division=0), abs=1e-12)
    assert m.specificity == pytest.approx(
        recall_score(y, pred, pos_label=0, zero_division=0), abs=1e-12)
    assert m.f1 == pytest.approx(f1_score(y, pred, zero_division=0), abs=1e-12)
    assert m.pr_auc == pytest.approx(average_precision_score(y, p))
    free = threshold_free_metrics(y, p)
    assert binary_metrics(y, p, threshold, free=free) == m


def test_hand_checked_confusion() -> None:
    m = binary_metrics(np.array([1, 1, 0, 0]), np.array([0.9, 0.2, 0.6, 0.1]), 0.5)
    assert (m.tp, m.fn, m.fp, m.tn) == (1, 1, 1, 1)
    assert m.accuracy == 0.5 and m.brier == pytest.approx((0.01 + 0.64 + 0.36 + 0.01) / 4)


def test_ece_perfect_and_worst() -> None:
    y = np.array([0, 1] * 50)
    assert expected_calibration_error(y, y.astype(float)) == 0.0
    assert expected_calibration_error(y, 1.0 - y) == pytest.approx(1.0)
    assert expected_calibration_error(y, np.full(100, 0.5)) == pytest.approx(0.0)


def test_youden_maximises_j(scores) -> None:
    y, p = scores
    threshold = youden_threshold(y, p)
    fpr, tpr, thresholds = roc_curve(y, p)
    best = np.max(tpr - fpr)
    m = binary_metrics(y, p, threshold)
    assert m.sensitivity + m.specificity - 1 == pytest.approx(best)


def test_sensitivity_threshold_reaches_target(scores) -> None:
    y, p = scores
    threshold = sensitivity_threshold(y, p, 0.95)
    assert binary_metrics(y, p, threshold).sensitivity >= 0.95
    assert binary_metrics(y, p, threshold + 1e-6).sensitivity < 0.95


def test_single_class_has_no_auc() -> None:
    m = binary_metrics(np.ones(5), np.linspace(0.1, 0.9, 5))
    assert m.roc_auc is None and m.sensitivity == pytest.approx(0.6)


def test_ece_weights_each_bin_by_its_share() -> None:
    # Two bins: 0.1 (labels 0, 1) and 0.9 (labels 1, 1, 0, 1): |0.5-0.1|*2 + |0.75-0.9|*4, / 6.
    y = np.array([0, 1, 1, 1, 0, 1])
    p = np.array([0.1, 0.1, 0.9, 0.9, 0.9, 0.9])
    assert expected_calibration_error(y, p) == pytest.approx((0.4 * 2 + 0.15 * 4) / 6)
    assert expected_calibration_error(y, p, n_bins=1) == pytest.approx(abs(4 / 6 - 4.2 / 6))
    assert np.isnan(expected_calibration_error(np.array([]), np.array([])))


def test_metrics_are_values_with_every_ratio() -> None:
    import dataclasses

    m = binary_metrics(np.array([1, 1, 1, 0, 0]), np.array([0.9, 0.8, 0.2, 0.7, 0.1]), 0.5)
    assert (m.tp, m.fn, m.fp, m.tn) == (2, 1, 1, 1)
    assert (m.precision, m.sensitivity, m.specificity) == (2 / 3, 2 / 3, 0.5)
    assert m.f1 == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert m.as_dict()["tp"] == 2 and m.as_dict()["threshold"] == 0.5
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.tp = 3  # type: ignore[misc]


def test_undefined_thresholds_fall_back_to_one_half() -> None:
    assert youden_threshold(np.zeros(4), np.linspace(0.1, 0.9, 4)) == 0.5
    assert sensitivity_threshold(np.ones(4), np.linspace(0.1, 0.9, 4)) == 0.5
    assert roc_points(np.ones(4), np.linspace(0.1, 0.9, 4)) is None
    # One class: the Brier score still scores P(pneumonia) against label 1.
    assert binary_metrics(np.ones(2), np.array([0.2, 0.4])).brier == pytest.approx(0.5)
    assert binary_metrics(np.zeros(2), np.array([0.2, 0.4])).brier == pytest.approx(0.1)


def test_roc_points_are_thinned_keeping_both_ends() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 2000)
    p = np.clip(y * 0.2 + rng.random(2000) * 0.8, 0, 1)
    full = roc_points(y, p, max_points=100_000)
    thinned = roc_points(y, p, max_points=50)
    assert set(thinned) == {"fpr", "tpr", "thresholds"}
    assert len(full["fpr"]) > 50 >= len(thinned["fpr"]) > 40
    for key in ("fpr", "tpr"):
        assert thinned[key][0] == full[key][0] == 0.0 and thinned[key][-1] == 1.0
    assert all(0.0 <= t <= 1.0 for t in thinned["thresholds"])
    assert thinned["thresholds"][0] == 1.0  # sklearn's +inf, clipped
