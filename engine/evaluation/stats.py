"""Pure numeric helpers for curves and comparisons (numpy / scikit-learn), shared by the
dashboard and the report (engine/report/).

Threshold metrics themselves come from engine.evaluation.metrics; these add the curve points a
chart needs, bootstrap confidence intervals for one run's metrics and paired-bootstrap intervals
for metric deltas between two runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, precision_recall_curve

from engine.evaluation.metrics import roc_points

BOOTSTRAP_METRICS = ("accuracy", "sensitivity", "specificity", "f1", "roc_auc")


def both_classes(labels: np.ndarray) -> bool:
    return len(np.unique(labels)) == 2


def roc_curve_points(labels: np.ndarray, probability: np.ndarray) -> dict | None:
    return roc_points(labels, probability)


def pr_curve_points(labels: np.ndarray, probability: np.ndarray,
                    max_points: int = 400) -> dict | None:
    if not both_classes(labels):
        return None
    precision, recall, _ = precision_recall_curve(labels, probability)
    if len(recall) > max_points:
        keep = np.unique(np.linspace(0, len(recall) - 1, max_points).astype(int))
        precision, recall = precision[keep], recall[keep]
    return {"precision": precision.tolist(), "recall": recall.tolist(),
            "average_precision": float(average_precision_score(labels, probability))}


def reliability_points(labels: np.ndarray, probability: np.ndarray, n_bins: int = 10) -> dict:
    """Fraction of positives against mean predicted probability, per equal-width bin."""
    if len(labels) == 0:
        return {"mean_predicted": [], "fraction_positive": []}
    fraction, mean = calibration_curve(labels, probability, n_bins=n_bins, strategy="uniform")
    return {"mean_predicted": mean.tolist(), "fraction_positive": fraction.tolist()}


def operating_point(labels: np.ndarray, probability: np.ndarray,
                    threshold: float) -> tuple[float, float]:
    """(false positive rate, true positive rate) at `threshold`."""
    predicted = probability >= threshold
    positives, negatives = labels == 1, labels == 0
    tpr = float(predicted[positives].mean()) if positives.any() else 0.0
    fpr = float(predicted[negatives].mean()) if negatives.any() else 0.0
    return fpr, tpr


def agreement_cells(labels: np.ndarray, predicted_a: np.ndarray,
                    predicted_b: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean masks of the 2x2 agreement matrix: A right/wrong x B right/wrong."""
    right_a, right_b = predicted_a == labels, predicted_b == labels
    return {"right-right": right_a & right_b, "right-wrong": right_a & ~right_b,
            "wrong-right": ~right_a & right_b, "wrong-wrong": ~right_a & ~right_b}


def agreement_labels(cells: dict[str, np.ndarray]) -> np.ndarray:
    """The agreement cell's name for each image, from agreement_cells' masks."""
    labels = np.empty(len(next(iter(cells.values()))), dtype=object)
    for cell, mask in cells.items():
        labels[mask] = cell
    return labels


def _batched_metrics(labels: np.ndarray, predicted: np.ndarray,
                     probability: np.ndarray) -> dict[str, np.ndarray]:
    """Metrics of each row of (B, N) resampled arrays, vectorised."""
    positives = labels == 1
    tp = (predicted & positives).sum(axis=1)
    tn = (~predicted & ~positives).sum(axis=1)
    fp = (predicted & ~positives).sum(axis=1)
    fn = (~predicted & positives).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        sensitivity = tp / (tp + fn)
        specificity = tn / (tn + fp)
        f1 = 2 * tp / (2 * tp + fp + fn)
        # AUC by the rank-sum (Mann-Whitney) statistic, ties counted by average rank.
        order = np.argsort(probability, axis=1, kind="stable")
        ranks = np.empty_like(order, dtype=float)
        np.put_along_axis(ranks, order, np.arange(1, probability.shape[1] + 1, dtype=float)[
            None, :].repeat(probability.shape[0], axis=0), axis=1)
        n_pos, n_neg = positives.sum(axis=1), (~positives).sum(axis=1)
        rank_sum = np.where(positives, ranks, 0.0).sum(axis=1)
        auc = (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return {"accuracy": (tp + tn) / labels.shape[1], "sensitivity": sensitivity,
            "specificity": specificity, "f1": f1, "roc_auc": auc}


@dataclass(frozen=True)
class MetricDelta:
    metric: str
    value_a: float
    value_b: float
    delta: float  # B - A
    low: float
    high: float


def bootstrap_deltas(labels: np.ndarray, probability_a: np.ndarray, threshold_a: float,
                     probability_b: np.ndarray, threshold_b: float, n_resamples: int = 1000,
                     seed: int = 0, chunk: int = 100) -> list[MetricDelta]:
    """B - A for each metric on paired images, with percentile 95% bootstrap intervals.

    Images are resampled together for both runs (a paired bootstrap), so the interval reflects
    the two models' disagreement, not the spread of the data twice over. AUC ties are ranked by
    order (exact enough for an interval; the point estimate is exact).
    """
    labels = np.asarray(labels, dtype=int)
    probability_a, probability_b = np.asarray(probability_a), np.asarray(probability_b)
    full = {name: _batched_metrics(labels[None, :], probability_x[None, :] >= t,
                                   probability_x[None, :])
            for name, probability_x, t in (("a", probability_a, threshold_a),
                                           ("b", probability_b, threshold_b))}
    rng = np.random.default_rng(seed)
    samples: dict[str, list[np.ndarray]] = {metric: [] for metric in BOOTSTRAP_METRICS}
    n = len(labels)
    for start in range(0, n_resamples, chunk):
        index = rng.integers(0, n, size=(min(chunk, n_resamples - start), n))
        sampled_labels = labels[index]
        a = _batched_metrics(sampled_labels, probability_a[index] >= threshold_a,
                             probability_a[index])
        b = _batched_metrics(sampled_labels, probability_b[index] >= threshold_b,
                             probability_b[index])
        for metric in BOOTSTRAP_METRICS:
            samples[metric].append(b[metric] - a[metric])
    deltas = []
    for metric in BOOTSTRAP_METRICS:
        values = np.concatenate(samples[metric])
        values = values[np.isfinite(values)]
        low, high = (np.percentile(values, [2.5, 97.5]) if len(values) else (np.nan, np.nan))
        value_a, value_b = float(full["a"][metric][0]), float(full["b"][metric][0])
        deltas.append(MetricDelta(metric, value_a, value_b, value_b - value_a, float(low),
                                  float(high)))
    return deltas


@dataclass(frozen=True)
class MetricInterval:
    metric: str
    value: float
    low: float
    high: float


def metric_intervals(labels: np.ndarray, probability: np.ndarray, threshold: float,
                     n_resamples: int = 1000, seed: int = 0,
                     chunk: int = 100) -> list[MetricInterval]:
    """Each metric at `threshold` with its percentile 95% bootstrap interval (images resampled
    with replacement; a resample without both classes leaves AUC, sensitivity or specificity
    out of that metric's interval)."""
    labels, probability = np.asarray(labels, dtype=int), np.asarray(probability, dtype=float)
    full = _batched_metrics(labels[None, :], probability[None, :] >= threshold,
                            probability[None, :])
    rng = np.random.default_rng(seed)
    samples: dict[str, list[np.ndarray]] = {metric: [] for metric in BOOTSTRAP_METRICS}
    for start in range(0, n_resamples if len(labels) else 0, chunk):
        index = rng.integers(0, len(labels), size=(min(chunk, n_resamples - start), len(labels)))
        resampled = _batched_metrics(labels[index], probability[index] >= threshold,
                                     probability[index])
        for metric in BOOTSTRAP_METRICS:
            samples[metric].append(resampled[metric])
    intervals = []
    for metric in BOOTSTRAP_METRICS:
        values = np.concatenate(samples[metric]) if samples[metric] else np.zeros(0)
        values = values[np.isfinite(values)]
        low, high = np.percentile(values, [2.5, 97.5]) if len(values) else (np.nan, np.nan)
        intervals.append(MetricInterval(metric, float(full[metric][0]), float(low), float(high)))
    return intervals
