"""Metrics as pure functions over arrays, taken from scikit-learn wherever it has them."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)


@dataclass(frozen=True)
class BinaryMetrics:
    threshold: float
    accuracy: float
    precision: float
    sensitivity: float
    specificity: float
    f1: float
    roc_auc: float | None
    pr_auc: float | None
    brier: float
    ece: float
    tn: int
    fp: int
    fn: int
    tp: int

    def as_dict(self) -> dict:
        return asdict(self)


def _both_classes(y_true: np.ndarray) -> bool:
    return len(np.unique(y_true)) == 2


def expected_calibration_error(y_true: np.ndarray, probability: np.ndarray,
                               n_bins: int = 15) -> float:
    """ECE with equal-width bins: sum over bins of |accuracy - confidence| weighted by count.

    scikit-learn has the reliability curve but not the ECE itself; this is the standard
    definition (Guo et al., 2017) over P(positive).
    """
    y_true = np.asarray(y_true, dtype=float)
    probability = np.asarray(probability, dtype=float)
    if len(y_true) == 0:
        return float("nan")
    bins = np.clip((probability * n_bins).astype(int), 0, n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        in_bin = bins == b
        if in_bin.any():
            total += in_bin.sum() * abs(y_true[in_bin].mean() - probability[in_bin].mean())
    return float(total / len(y_true))


def binary_metrics(y_true: np.ndarray, probability: np.ndarray,
                   threshold: float = 0.5) -> BinaryMetrics:
    y_true = np.asarray(y_true, dtype=int)
    probability = np.asarray(probability, dtype=float)
    y_pred = (probability >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(y_true, y_pred, labels=[0, 1]).ravel()
    both = _both_classes(y_true)
    return BinaryMetrics(
        threshold=float(threshold),
        accuracy=float(accuracy_score(y_true, y_pred)),
        precision=float(precision_score(y_true, y_pred, zero_division=0)),
        sensitivity=float(recall_score(y_true, y_pred, zero_division=0)),
        specificity=float(recall_score(y_true, y_pred, pos_label=0, zero_division=0)),
        f1=float(f1_score(y_true, y_pred, zero_division=0)),
        roc_auc=float(roc_auc_score(y_true, probability)) if both else None,
        pr_auc=float(average_precision_score(y_true, probability)) if both else None,
        brier=float(brier_score_loss(y_true, probability, labels=[0, 1])),
        ece=expected_calibration_error(y_true, probability),
        tn=int(tn), fp=int(fp), fn=int(fn), tp=int(tp),
    )


def youden_threshold(y_true: np.ndarray, probability: np.ndarray) -> float:
    """The threshold maximising sensitivity + specificity - 1 (0.5 if undefined)."""
    if not _both_classes(np.asarray(y_true)):
        return 0.5
    fpr, tpr, thresholds = roc_curve(y_true, probability)
    best = int(np.argmax(tpr - fpr))
    return float(np.clip(thresholds[best], 0.0, 1.0))


def sensitivity_threshold(y_true: np.ndarray, probability: np.ndarray,
                          target: float = 0.95) -> float:
    """The highest threshold whose sensitivity is at least `target`."""
    if not _both_classes(np.asarray(y_true)):
        return 0.5
    _, tpr, thresholds = roc_curve(y_true, probability, drop_intermediate=False)
    reaching = np.flatnonzero(tpr >= target)
    return float(np.clip(thresholds[reaching[0]], 0.0, 1.0))


def roc_points(y_true: np.ndarray, probability: np.ndarray, max_points: int = 400) -> dict | None:
    """ROC curve points (thinned for storage), or None when only one class is present."""
    if not _both_classes(np.asarray(y_true)):
        return None
    fpr, tpr, thresholds = roc_curve(y_true, probability, drop_intermediate=True)
    if len(fpr) > max_points:
        keep = np.unique(np.linspace(0, len(fpr) - 1, max_points).astype(int))
        fpr, tpr, thresholds = fpr[keep], tpr[keep], thresholds[keep]
    thresholds = np.clip(thresholds, 0.0, 1.0)
    return {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "thresholds": thresholds.tolist()}
