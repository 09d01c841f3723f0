"""A new site's operating point from a small labelled sample: the refit and how far to trust it.

Pure functions over the source run's raw logits on the sample (no torch model, no database), so
`cxr calibrate` (engine/evaluation/site_calibration.py) and the proxy experiment
(bench/site_calibration.py) fit exactly the same way. Which method is the default, and why:
docs/results.md#site-calibration.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.errors import UserError
from engine.evaluation.calibration import Calibration, logit, sigmoid
from engine.evaluation.metrics import expected_calibration_error
from engine.evaluation.thresholds import choose_threshold

# What `--method` may refit on the sample:
# - "threshold": the threshold only, by the rule, on the source's calibrated probabilities;
# - "offset": a logit offset (Platt's intercept, the source's temperature kept), then the
#   threshold;
# - "offset+temperature": offset and temperature (Platt scaling), then the threshold;
# - "prior": the source's calibration moved by the sample's class balance against val's (a pure
#   label-shift correction, Saerens et al., 2002) and the source's threshold kept.
# The refitted calibration is kept only where it lowers the sample's ECE.
METHODS = ("threshold", "offset", "offset+temperature", "prior")
DEFAULT_METHOD = "offset+temperature"
# Below this many images of a class, its rate on the sample is too uncertain to lean on.
MIN_PER_CLASS = 20


def site_rule(requested: str | None, run_rule: str, method: str = DEFAULT_METHOD) -> str:
    """The threshold rule for a site sample: the one asked for, else the run's, except that a
    `youden` run takes the middle of the Youden tie: on a sample of 20-80 images the tie is
    wide and its edge generalises worse (docs/results.md#site-calibration). "prior" keeps the
    run's threshold, so its rule too, and refuses another."""
    if requested is not None and not requested.strip():
        raise UserError("--threshold-rule '' is empty: name a rule (youden, youden-middle, "
                        "sensitivity:0.95, fixed:0.5) or leave the option out")
    if method == "prior":
        if requested:
            raise UserError(f"--method prior keeps the run's threshold (by {run_rule}) and "
                            f"moves the probabilities across it; drop --threshold-rule "
                            f"{requested}, or choose another --method")
        return run_rule
    if requested:
        return requested
    return "youden-middle" if run_rule == "youden" else run_rule


@dataclass(frozen=True)
class SiteFit:
    """The refitted operating point: P = calibration.apply(raw logit), positive at >= threshold.
    `kept` names what changed ("threshold", "offset", "offset+temperature", "prior")."""

    calibration: Calibration
    threshold: float
    rule: str
    kept: str


@dataclass(frozen=True)
class RateInterval:
    """A rate on the sample with its percentile bootstrap interval."""

    value: float
    low: float
    high: float


def class_counts(labels: np.ndarray) -> tuple[int, int]:
    labels = np.asarray(labels, dtype=int)
    return int((labels == 0).sum()), int((labels == 1).sum())


def require_both_classes(labels: np.ndarray, where: str) -> None:
    n_normal, n_pneumonia = class_counts(labels)
    if not n_normal or not n_pneumonia:
        raise UserError(f"{where} has {n_normal} NORMAL and {n_pneumonia} PNEUMONIA images: a "
                        "site sample needs labelled images of both classes (NORMAL/ and "
                        f"PNEUMONIA/); aim for at least {MIN_PER_CLASS} of each")


def class_count_warning(labels: np.ndarray) -> str | None:
    """A warning naming the class counts when a class has fewer than MIN_PER_CLASS images."""
    return count_warning(*class_counts(labels))


def count_warning(n_normal: int, n_pneumonia: int) -> str | None:
    """class_count_warning from the counts (the dashboard has only the stored counts)."""
    few = [name for name, count in (("NORMAL", n_normal), ("PNEUMONIA", n_pneumonia))
           if count < MIN_PER_CLASS]
    if not few:
        return None
    return (f"the sample has {n_normal} NORMAL and {n_pneumonia} PNEUMONIA images: fewer than "
            f"{MIN_PER_CLASS} {' and '.join(few)}, so the operating point is uncertain, more "
            f"than its intervals (a bootstrap of these few images) can show; label more "
            f"{' and '.join(few)} images from the site")


def platt_targets(labels: np.ndarray) -> np.ndarray:
    """Platt's (1999) targets: (N+ + 1) / (N+ + 2) for positives, 1 / (N- + 2) for negatives.

    On a small sample the two classes are often perfectly separated, and a fit to hard 0/1
    targets then sharpens the scores without bound; these targets keep it finite.
    """
    labels = np.asarray(labels, dtype=int)
    n_positive, n_negative = int(labels.sum()), int((labels == 0).sum())
    return np.where(labels == 1, (n_positive + 1) / (n_positive + 2), 1 / (n_negative + 2))


def _newton(features: np.ndarray, targets: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Weights minimising the cross-entropy of sigmoid(features @ w) against soft targets
    (convex: Newton's method with step halving)."""

    def loss(weights: np.ndarray) -> float:
        z = features @ weights
        return float(np.mean(np.logaddexp(0.0, z) - targets * z))

    weights, current = start.astype(np.float64), loss(start)
    for _ in range(100):
        probability = sigmoid(features @ weights)
        gradient = features.T @ (probability - targets) / len(targets)
        hessian = (features.T * (probability * (1 - probability))) @ features / len(targets)
        step = np.linalg.solve(hessian + 1e-9 * np.eye(len(weights)), gradient)
        for _ in range(30):
            candidate = weights - step
            if loss(candidate) <= current:
                break
            step = step / 2
        weights, previous, current = candidate, current, loss(candidate)
        if previous - current < 1e-12:
            break
    return weights


def _fit_offset(logits: np.ndarray, labels: np.ndarray, source: Calibration) -> Calibration:
    """The logit offset minimising the sample's loss at the source's temperature."""
    return _offset_for(logits, labels, source.offset, source.temperature)


def _offset_for(logits: np.ndarray, labels: np.ndarray, offset: float,
                temperature: float) -> Calibration:
    scaled = (np.asarray(logits, dtype=np.float64) - offset) / temperature
    shift = float(np.clip(_offset_shift(scaled, labels), -15.0, 15.0))
    return Calibration(offset - shift * temperature, temperature)


def _offset_shift(scaled: np.ndarray, labels: np.ndarray) -> float:
    """c minimising the loss of sigmoid(scaled + c) against Platt's targets."""
    targets, shift = platt_targets(labels), 0.0
    for _ in range(100):  # Newton's method on a convex function of one variable
        probability = sigmoid(scaled + shift)
        gradient = float(np.mean(probability - targets))
        curvature = max(float(np.mean(probability * (1 - probability))), 1e-6)
        step = float(np.clip(gradient / curvature, -2.0, 2.0))
        shift -= step
        if abs(step) < 1e-9:
            break
    return shift


def fit_platt_scaling(logits: np.ndarray, labels: np.ndarray) -> Calibration:
    """Platt scaling on the sample: P = sigmoid((logit - offset) / T), fitted to Platt's
    targets, T kept within [0.05, 20] like engine/evaluation/calibration.py's fits."""
    logits = np.asarray(logits, dtype=np.float64)
    features = np.stack([logits, np.ones_like(logits)], axis=1)
    slope, intercept = _newton(features, platt_targets(labels), np.array([1.0, 0.0]))
    if 1 / 20.0 <= slope <= 1 / 0.05:
        return Calibration(float(-intercept / slope), float(1.0 / slope))
    # Outside the bounds (or reversed), the bound's temperature with its own best offset.
    return _offset_for(logits, labels, 0.0, 0.05 if slope > 1 / 0.05 else 20.0)


def _prior_shifted(source: Calibration, labels: np.ndarray, source_prior: float) -> Calibration:
    sample_prior = float(np.clip(np.mean(labels), 0.02, 0.98))
    shift = float(logit(sample_prior) - logit(float(np.clip(source_prior, 0.02, 0.98))))
    return Calibration(source.offset - shift * source.temperature, source.temperature)


def fit_site(logits: np.ndarray, labels: np.ndarray, source: Calibration, source_threshold: float,
             rule: str, method: str = DEFAULT_METHOD,
             source_prior: float | None = None) -> SiteFit:
    """Refit the operating point on the sample's raw logits and labels by `method`.

    A refitted calibration replaces the source's only where it lowers the sample's ECE (ties
    keep the source's); the threshold is then chosen by `rule` on the sample's probabilities,
    except for "prior", which keeps the source's threshold (the probabilities move across it).
    """
    if method not in METHODS:
        raise UserError(f"unknown --method {method!r}; choose one of {', '.join(METHODS)}")
    logits, labels = np.asarray(logits, dtype=np.float64), np.asarray(labels, dtype=int)
    require_both_classes(labels, "the site sample")
    candidates = [(source, "threshold")]
    if method == "offset":
        candidates.append((_fit_offset(logits, labels, source), "offset"))
    elif method == "offset+temperature":
        candidates.append((_fit_offset(logits, labels, source), "offset"))
        candidates.append((fit_platt_scaling(logits, labels), "offset+temperature"))
    elif method == "prior":
        if source_prior is None:
            raise UserError("the prior method needs the source's val class balance")
        prior = _prior_shifted(source, labels, source_prior)
        return SiteFit(prior, float(source_threshold), rule, "prior")
    errors = [expected_calibration_error(labels, candidate.apply(logits))
              for candidate, _ in candidates]
    calibration, kept = candidates[int(np.argmin(errors))]
    threshold, stored_rule = choose_threshold(rule, labels, calibration.apply(logits))
    return SiteFit(calibration, float(threshold), stored_rule, kept)


def bootstrap_rates(labels: np.ndarray, probability: np.ndarray, threshold: float,
                    n_resamples: int = 2000, confidence: float = 0.95,
                    seed: int = 0) -> tuple[RateInterval, RateInterval]:
    """(sensitivity, specificity) at `threshold` with percentile bootstrap intervals.

    Images are resampled within each class (the sample's class counts stay fixed), so each
    rate's interval reflects how many images of its own class there are. The threshold stays
    where it was chosen, on this same sample: the intervals are, if anything, too narrow.
    """
    labels = np.asarray(labels, dtype=int)
    predicted = np.asarray(probability, dtype=np.float64) >= threshold
    rng = np.random.default_rng(seed)
    tail = (1.0 - confidence) / 2 * 100
    rates = []
    for hits in (predicted[labels == 1], ~predicted[labels == 0]):
        if len(hits) == 0:
            rates.append(RateInterval(float("nan"), float("nan"), float("nan")))
            continue
        means = hits[rng.integers(0, len(hits), size=(n_resamples, len(hits)))].mean(axis=1)
        low, high = np.percentile(means, [tail, 100 - tail])
        rates.append(RateInterval(float(hits.mean()), float(low), float(high)))
    return rates[0], rates[1]
