"""Where two runs differ: the slices of engine/evaluation/slices.py, B - A accuracy on the
images both scored, with a paired bootstrap interval and the flip counts each way."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from engine.errors import UserError
from engine.evaluation.slice_attributes import attribute_values
from engine.evaluation.slices import (
    MIN_SLICE_SIZE,
    N_RESAMPLES,
    SliceComparison,
    SliceDifference,
    candidates,
    checked_min_size,
    delta_interval,
    evaluation_frame,
    slice_rng,
)

SIGNIFICANCE = 0.05


def compare_slices(frame: pd.DataFrame, threshold_a: float, threshold_b: float,
                   min_size: int = MIN_SLICE_SIZE, pairs: bool = True,
                   n_resamples: int = N_RESAMPLES,
                   seed: int = 0) -> tuple[list[SliceDifference], list[str]]:
    """Slices of paired rows (`probability` is A's, `probability_b` B's; the attributes, the
    typicality flag included, are A's), largest |B - A| first."""
    labels = frame.true_label.to_numpy()
    right_a = (frame.probability.to_numpy() >= threshold_a).astype(int) == labels
    right_b = (frame.probability_b.to_numpy() >= threshold_b).astype(int) == labels
    gained, lost = ~right_a & right_b, right_a & ~right_b

    def difference(key: str, label: str, mask: np.ndarray) -> SliceDifference:
        size = int(mask.sum())
        up, down = int(gained[mask].sum()), int(lost[mask].sum())
        low, high = delta_interval(up, down, size, slice_rng(seed, key), n_resamples)
        p_value = float(binomtest(up, up + down).pvalue) if up + down else 1.0
        enough = size >= min_size
        return SliceDifference(key, label, size, float(right_a[mask].mean()),
                               float(right_b[mask].mean()), (up - down) / size, low, high,
                               down, up, p_value, enough,
                               enough and (low > 0 or high < 0) and p_value < SIGNIFICANCE)

    found, unavailable = candidates(attribute_values(frame), min_size, pairs)
    by_key = {c.key: difference(c.key, c.label, c.mask) for c in found if c.mask.any()}
    kept = [by_key[c.key] for c in found if c.key in by_key
            and all(abs(by_key[c.key].delta) > abs(by_key[p].delta) for p in c.parents)]
    kept.sort(key=lambda d: (not d.enough, -abs(d.delta),
                             -(d.a_right_b_wrong + d.a_wrong_b_right), d.key))
    return kept, unavailable


def compare_run_slices(run_a: int, run_b: int, split: str = "test",
                       min_size: int = MIN_SLICE_SIZE, pairs: bool = True,
                       n_resamples: int = N_RESAMPLES, seed: int = 0) -> SliceComparison:
    """Two runs' slices on the images both scored on `split`, each at its own threshold."""
    from db.runs import get_run

    first, second = get_run(run_a), get_run(run_b)
    frame_b = evaluation_frame(run_b, split)[["image_id", "probability"]]
    frame = evaluation_frame(run_a, split).merge(
        frame_b.rename(columns={"probability": "probability_b"}), on="image_id")
    if frame.empty:
        raise UserError(f"runs {run_a} and {run_b} share no images on {split} (different "
                        "datasets or splits): nothing to compare")
    slices, unavailable = compare_slices(frame, first.threshold, second.threshold,
                                         checked_min_size(min_size), pairs, n_resamples, seed)
    return SliceComparison(run_a, run_b, split, len(frame), min_size, slices, unavailable)
