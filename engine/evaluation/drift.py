"""How far an evaluation's scores sit from the run's val: pure functions over probabilities.

The population stability index (PSI) compares binned shares of P(pneumonia) (10 equal-width
bins; 0.1-0.25 is usually read as a moderate shift, above 0.25 a large one); the two-sample
Kolmogorov-Smirnov statistic is the largest gap between the two cumulative distributions.
Neither needs labels, so both apply to an unlabelled new site.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import ks_2samp

BINS = np.linspace(0.0, 1.0, 11)


def population_stability_index(reference: np.ndarray, current: np.ndarray) -> float:
    expected = np.histogram(np.clip(reference, 0, 1), BINS)[0] / max(len(reference), 1)
    actual = np.histogram(np.clip(current, 0, 1), BINS)[0] / max(len(current), 1)
    expected, actual = np.clip(expected, 1e-4, None), np.clip(actual, 1e-4, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def kolmogorov_smirnov(reference: np.ndarray, current: np.ndarray) -> float:
    return float(ks_2samp(reference, current).statistic)


def drift(reference: np.ndarray, current: np.ndarray) -> tuple[float | None, float | None]:
    """(PSI, KS) of `current` against `reference`; (None, None) when either is empty."""
    if len(reference) == 0 or len(current) == 0:
        return None, None
    return (population_stability_index(reference, current),
            kolmogorov_smirnov(reference, current))
