"""Metrics as pure functions over arrays, taken from scikit-learn wherever it has them."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# scikit-learn is imported inside the functions that use it: it costs about 1 s, and
# `cxr score` only needs BinaryMetrics and the calibration error.



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


def threshold_free_metrics(y_true: np.ndarray, probability: np.ndarray) -> dict:
    """The metrics no threshold changes: ROC AUC, PR AUC (None with one class), Brier, ECE.

    Separate so that a threshold slider recomputes only the confusion matrix.
    """
    from sklearn.metrics import (
        average_precision_score,
        brier_score_loss,
        roc_auc_score,
    )

    y_true = np.asarray(y_true, dtype=int)
    probability = np.asarray(probability, dtype=float)
    both = _both_classes(y_true)
    return {"roc_auc": float(roc_auc_score(y_true, probability)) if both else None,
            "pr_auc": float(average_precision_score(y_true, probability)) if both else None,
            "brier": float(brier_score_loss(y_true, probability, labels=[0, 1])),
            "ece": expected_calibration_error(y_true, probability)}


def _ratio(numerator: int, denominator: int) -> float:
    return float(numerator / denominator) if denominator else 0.0  # sklearn's zero_division=0


def binary_metrics(y_true: np.ndarray, probability: np.ndarray, threshold: float = 0.5,
                   free: dict | None = None) -> BinaryMetrics:
    """Metrics at `threshold`. The counts come from scikit-learn's confusion matrix; accuracy,
    precision, recall (sensitivity), specificity and F1 are its ratios, exactly as sklearn's
    scorers define them with zero_division=0 (a test holds them equal). `free` passes
    threshold_free_metrics() already computed for these arrays."""
    from sklearn.metrics import confusion_matrix

    y_true = np.asarray(y_true, dtype=int)
    probability = np.asarray(probability, dtype=float)
    y_pred = (probability >= threshold).astype(int)
    tn, fp, fn, tp = (int(v) for v in confusion_matrix(y_true, y_pred, labels=[0, 1]).ravel())
    free = free if free is not None else threshold_free_metrics(y_true, probability)
    return BinaryMetrics(
        threshold=float(threshold),
        accuracy=_ratio(tp + tn, tp + tn + fp + fn),
        precision=_ratio(tp, tp + fp),
        sensitivity=_ratio(tp, tp + fn),
        specificity=_ratio(tn, tn + fp),
        f1=_ratio(2 * tp, 2 * tp + fp + fn),
        roc_auc=free["roc_auc"], pr_auc=free["pr_auc"], brier=free["brier"], ece=free["ece"],
        tn=tn, fp=fp, fn=fn, tp=tp,
    )


def youden_threshold(y_true: np.ndarray, probability: np.ndarray) -> float:
    """The threshold maximising sensitivity + specificity - 1 (0.5 if undefined)."""
    from sklearn.metrics import roc_curve

    if not _both_classes(np.asarray(y_true)):
        return 0.5
    fpr, tpr, thresholds = roc_curve(y_true, probability)
    best = int(np.argmax(tpr - fpr))
    return float(np.clip(thresholds[best], 0.0, 1.0))


def sensitivity_threshold(y_true: np.ndarray, probability: np.ndarray,
                          target: float = 0.95) -> float:
    """The highest threshold whose sensitivity is at least `target`."""
    from sklearn.metrics import roc_curve

    if not _both_classes(np.asarray(y_true)):
        return 0.5
    _, tpr, thresholds = roc_curve(y_true, probability, drop_intermediate=False)
    reaching = np.flatnonzero(tpr >= target)
    return float(np.clip(thresholds[reaching[0]], 0.0, 1.0))


def roc_points(y_true: np.ndarray, probability: np.ndarray, max_points: int = 400) -> dict | None:
    """ROC curve points (thinned for storage), or None when only one class is present."""
    from sklearn.metrics import roc_curve

    if not _both_classes(np.asarray(y_true)):
        return None
    fpr, tpr, thresholds = roc_curve(y_true, probability, drop_intermediate=True)
    if len(fpr) > max_points:
        keep = np.unique(np.linspace(0, len(fpr) - 1, max_points).astype(int))
        fpr, tpr, thresholds = fpr[keep], tpr[keep], thresholds[keep]
    thresholds = np.clip(thresholds, 0.0, 1.0)
    return {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "thresholds": thresholds.tolist()}
