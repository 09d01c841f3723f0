"""Operating thresholds, chosen on val by a named rule (`--threshold-rule`).

One vocabulary: the rule is stored as it is spelt here, in runs.threshold_rule, in
run_metrics.threshold_rule (the rule whose threshold a metric row is at), in a run's config and
as the Errors page's presets.
- "youden": the highest threshold maximising sensitivity + specificity - 1.
  When val ranks almost perfectly (val AUC 0.999) many thresholds tie and this takes the edge
  of the tie next to the positives: fragile once the scores shift.
- "youden-middle": the middle, in logit space, of the range of thresholds tied at the best
  Youden J.
- "sensitivity:0.97": the highest threshold keeping val sensitivity at least 0.97.
- "fixed:0.5": that threshold, whatever val says (a run's operating point until a rule chose
  one; every evaluation also stores its metrics at it).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_curve

from db.models import FIXED_THRESHOLD_RULE
from engine.errors import UserError
from engine.evaluation.calibration import logit, sigmoid
from engine.evaluation.metrics import sensitivity_threshold, youden_threshold

RULES = ("youden", "youden-middle", "sensitivity:0.95", FIXED_THRESHOLD_RULE)


def parse_threshold_rule(rule: str) -> tuple[str, float | None]:
    """"youden" -> ("youden", None); "sensitivity:0.95" -> ("sensitivity", 0.95)."""
    if rule in ("youden", "youden-middle"):
        return rule, None
    name, _, value = rule.partition(":")
    try:
        target = float(value)
    except ValueError:
        target = None
    if name in ("sensitivity", "fixed") and target is not None and not 0 < target <= 1:
        raise UserError(f"--threshold-rule {rule!r}: {value} is out of range; give a value "
                        f"above 0 up to 1, e.g. {name}:{0.95 if name == 'sensitivity' else 0.5}")
    if name not in ("sensitivity", "fixed") or target is None:
        raise UserError(f"unknown --threshold-rule {rule!r}; use youden, youden-middle, "
                        "sensitivity:0.95 or fixed:0.5")
    return name, target


def youden_middle_threshold(labels: np.ndarray, probability: np.ndarray) -> float:
    """The logit-space middle of the thresholds tied at the best Youden J (0.5 if undefined).

    The tied range runs from the highest tied threshold down to the score just below the lowest
    one; on a val set ranked perfectly that is the gap between the lowest positive and the
    highest negative score, and its middle leaves the most room for scores that move elsewhere.
    """
    labels, probability = np.asarray(labels), np.asarray(probability, dtype=np.float64)
    if len(set(labels.tolist())) < 2:
        return 0.5
    fpr, tpr, thresholds = roc_curve(labels, probability, drop_intermediate=False)
    youden = tpr - fpr
    tied = np.flatnonzero(np.isclose(youden, youden.max(), rtol=0, atol=1e-12))
    # roc_curve's thresholds fall; the first is +inf (nothing predicted positive).
    tied = tied[np.isfinite(thresholds[tied])]
    if len(tied) == 0:
        return 0.5
    high = float(thresholds[tied[0]])
    below = probability[probability < thresholds[tied[-1]]]
    low = float(below.max()) if len(below) else 0.0
    middle = sigmoid((logit(high) + logit(max(low, 1e-7))) / 2)
    return float(np.clip(middle, 0.0, 1.0))


def choose_threshold(rule: str, labels: np.ndarray, probability: np.ndarray) -> tuple[
        float, str]:
    """(threshold, the rule as stored on the run) for these val labels and probabilities."""
    name, target = parse_threshold_rule(rule)
    if name == "youden":
        return youden_threshold(labels, probability), rule
    if name == "youden-middle":
        return youden_middle_threshold(labels, probability), rule
    if name == "fixed":
        return target, f"fixed:{target}"
    return sensitivity_threshold(labels, probability, target), f"sensitivity:{target}"
