"""Slices: where a run is worst, and where two runs differ, by image attribute.

Every value of every registered attribute (engine/evaluation/slice_attributes.py) is a slice,
and so is every pair of values of two attributes (a small search in the spirit of SliceLine).
Each slice's accuracy at the run's threshold gets a seeded 95% bootstrap interval.

What counts as a finding: a slice of at least `min_size` images whose interval's upper bound
lies below the whole evaluation's accuracy. A pair of values is kept only when it is worse than
both of its single-attribute parents and leaves out at least `min_size` images of each
(otherwise a parent already says it). Between two runs, a slice differs when the paired
interval of B - A excludes 0 and McNemar's exact test on its flips gives p < 0.05: with a
handful of flips all one way the percentile interval alone excludes 0 too readily.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd

from engine.errors import UserError
from engine.evaluation.slice_attributes import ATTRIBUTES, BY_NAME, attribute_values

MIN_SLICE_SIZE = 20
N_RESAMPLES = 1000
KEY_SEPARATOR, VALUE_SEPARATOR = ";", "="


@dataclass(frozen=True)
class Candidate:
    key: str  # "subtype=virus;population=outside": what the URL and --csv carry
    label: str  # "Pneumonia subtype: virus & Training population: outside"
    mask: np.ndarray = field(repr=False)
    parents: tuple[str, ...] = ()  # the single-attribute slices a pair is made of


@dataclass(frozen=True)
class SliceStat:
    key: str
    label: str
    size: int
    errors: int
    accuracy: float
    low: float  # 95% bootstrap interval of the accuracy
    high: float
    gap: float  # accuracy - the whole evaluation's accuracy
    enough: bool  # at least min_size images
    finding: bool  # enough, and the interval lies wholly below the whole's accuracy


@dataclass(frozen=True)
class SliceReport:
    run_id: int
    split: str
    threshold: float
    size: int
    accuracy: float
    low: float
    high: float
    min_size: int
    slices: list[SliceStat]  # most below the whole first; slices under min_size last
    unavailable: list[str]  # one line per attribute the store cannot slice by, and why

    @property
    def findings(self) -> list[SliceStat]:
        return [stat for stat in self.slices if stat.finding]


@dataclass(frozen=True)
class SliceDifference:
    key: str
    label: str
    size: int
    accuracy_a: float
    accuracy_b: float
    delta: float  # B - A
    low: float  # 95% paired bootstrap interval of the delta
    high: float
    a_right_b_wrong: int  # the flips, each way
    a_wrong_b_right: int
    p_value: float  # McNemar's exact test on the flips (1.0 without any)
    enough: bool
    differs: bool  # enough, the interval excludes 0 and p < 0.05


@dataclass(frozen=True)
class SliceComparison:
    run_a: int
    run_b: int
    split: str
    size: int
    min_size: int
    slices: list[SliceDifference]  # largest |B - A| first; slices under min_size last
    unavailable: list[str]


def parse_key(key: object) -> dict[str, str] | None:
    """{attribute: value} from a slice key; None for anything that is not one."""
    if not isinstance(key, str) or not key:
        return None
    parts = [part.partition(VALUE_SEPARATOR) for part in key.split(KEY_SEPARATOR)]
    chosen = {name: value for name, sep, value in parts if sep and name in BY_NAME}
    return chosen if len(chosen) == len(parts) and chosen else None


def slice_mask(values: dict[str, pd.Series], key: object) -> np.ndarray | None:
    chosen = parse_key(key)
    if chosen is None:
        return None
    mask = np.ones(len(next(iter(values.values()))), dtype=bool)
    for name, value in chosen.items():
        mask &= (values[name] == value).to_numpy()
    return mask


def _single(values: dict[str, pd.Series]) -> tuple[list[Candidate], list[str]]:
    singles, unavailable = [], []
    for attribute in ATTRIBUTES:
        column = values[attribute.name]
        known = sorted({str(v) for v in column if not pd.isna(v)})
        if not known:
            unavailable.append(f"{attribute.title}: {attribute.missing}")
        elif len(known) == 1 and column.notna().all():
            unavailable.append(f"{attribute.title}: every image is {known[0]}, nothing to "
                               "compare")
        else:
            singles += [Candidate(f"{attribute.name}{VALUE_SEPARATOR}{value}",
                                  f"{attribute.title}: {value}",
                                  (column == value).to_numpy()) for value in known]
    return singles, unavailable


def candidates(values: dict[str, pd.Series], min_size: int,
               pairs: bool = True) -> tuple[list[Candidate], list[str]]:
    """Every single-attribute slice, and every pair of values of two attributes that has
    min_size images and leaves out at least min_size images of each of its two parents."""
    singles, unavailable = _single(values)
    found = list(singles)
    if pairs:
        sized = [c for c in singles if c.mask.sum() >= min_size]
        for first, second in combinations(sized, 2):
            if first.key.partition(VALUE_SEPARATOR)[0] == second.key.partition(
                    VALUE_SEPARATOR)[0]:
                continue
            mask = first.mask & second.mask
            size = int(mask.sum())
            # A pair that leaves out fewer than min_size images of a parent is that parent again.
            if min_size <= size <= min(first.mask.sum(), second.mask.sum()) - min_size:
                found.append(Candidate(f"{first.key}{KEY_SEPARATOR}{second.key}",
                                       f"{first.label} & {second.label}", mask,
                                       (first.key, second.key)))
    return found, unavailable


def slice_rng(seed: int, key: str) -> np.random.Generator:
    """One stream per slice: its interval does not depend on which other slices exist."""
    return np.random.default_rng([seed, zlib.crc32(key.encode())])


def accuracy_interval(correct: int, size: int, rng: np.random.Generator,
                      n_resamples: int = N_RESAMPLES) -> tuple[float, float]:
    """95% percentile bootstrap interval of an accuracy of `correct` out of `size`.

    Resampling `size` right/wrong outcomes with replacement and counting the right ones is a
    Binomial(size, correct / size) draw, so the bootstrap draws that count directly.
    """
    draws = rng.binomial(size, correct / size, n_resamples) / size
    low, high = np.percentile(draws, [2.5, 97.5])
    return float(low), float(high)


def delta_interval(gained: int, lost: int, size: int, rng: np.random.Generator,
                   n_resamples: int = N_RESAMPLES) -> tuple[float, float]:
    """95% paired bootstrap interval of B - A accuracy on one slice's images.

    Per image B - A is +1 (A wrong, B right), -1 (A right, B wrong) or 0; resampling images
    with replacement draws those three counts from a multinomial.
    """
    shares = np.array([gained, lost, size - gained - lost], dtype=float) / size
    counts = rng.multinomial(size, shares, n_resamples)
    low, high = np.percentile((counts[:, 0] - counts[:, 1]) / size, [2.5, 97.5])
    return float(low), float(high)


def _worse_than_parents(stat: SliceStat, by_key: dict[str, SliceStat],
                        parents: tuple[str, ...]) -> bool:
    return all(stat.accuracy < by_key[parent].accuracy for parent in parents)


def find_slices(frame: pd.DataFrame, threshold: float, min_size: int = MIN_SLICE_SIZE,
                pairs: bool = True, n_resamples: int = N_RESAMPLES,
                seed: int = 0) -> tuple[SliceStat, list[SliceStat], list[str]]:
    """(the whole, its slices sorted most-below-the-whole first, the unavailable attributes)."""
    correct = ((frame.probability.to_numpy() >= threshold).astype(int)
               == frame.true_label.to_numpy())
    whole_accuracy = float(correct.mean()) if len(correct) else float("nan")

    def stat(key: str, label: str, mask: np.ndarray) -> SliceStat:
        size, right = int(mask.sum()), int(correct[mask].sum())
        low, high = accuracy_interval(right, size, slice_rng(seed, key), n_resamples)
        enough = size >= min_size
        return SliceStat(key, label, size, size - right, right / size, low, high,
                         right / size - whole_accuracy, enough,
                         enough and high < whole_accuracy)

    whole = stat("all", "All images", np.ones(len(correct), dtype=bool)) if len(correct) else None
    found, unavailable = candidates(attribute_values(frame), min_size, pairs)
    stats = {c.key: stat(c.key, c.label, c.mask) for c in found if c.mask.any()}
    kept = [stats[c.key] for c in found if c.key in stats
            and (not c.parents or _worse_than_parents(stats[c.key], stats, c.parents))]
    kept.sort(key=lambda s: (not s.enough, s.gap, -s.size, s.key))
    return whole, kept, unavailable


def run_slices(run_id: int, split: str = "test", threshold: float | None = None,
               min_size: int = MIN_SLICE_SIZE, pairs: bool = True,
               n_resamples: int = N_RESAMPLES, seed: int = 0) -> SliceReport:
    """A run's slices on one split, at its own threshold unless `threshold` is given."""
    from db.runs import get_run

    run = get_run(run_id)
    frame = evaluation_frame(run_id, split)
    threshold = run.threshold if threshold is None else float(threshold)
    whole, stats, unavailable = find_slices(frame, threshold, checked_min_size(min_size), pairs,
                                            n_resamples, seed)
    return SliceReport(run_id, split, threshold, whole.size, whole.accuracy, whole.low,
                       whole.high, min_size, stats, unavailable)


def checked_min_size(min_size: int) -> int:
    if min_size < 1:
        raise UserError(f"--min-size {min_size}: a slice needs at least 1 image; pass 20 or so")
    return int(min_size)


def evaluation_frame(run_id: int, split: str) -> pd.DataFrame:
    from db.evaluations import evaluation_id_for
    from db.slices import slice_frame

    evaluation_id = evaluation_id_for(run_id, split)
    if evaluation_id is None:
        from db.runs import get_run
        from engine.evaluation.advice import missing_evaluation

        how = "--data DIR" if split == "external" else f"--split {split}"
        raise UserError(missing_evaluation(get_run(run_id), split, how))
    frame = slice_frame(evaluation_id)
    if frame.empty:
        raise UserError(f"run {run_id}'s {split} evaluation has no predictions to slice")
    return frame


def slice_image_ids(run_id: int, split: str, key: object) -> list[int]:
    """The image ids of one slice of a run's split (empty for a key that is no slice)."""
    from db.evaluations import evaluation_id_for
    from db.slices import slice_frame

    evaluation_id = evaluation_id_for(run_id, split)
    if evaluation_id is None or parse_key(key) is None:
        return []
    frame = slice_frame(evaluation_id)
    mask = slice_mask(attribute_values(frame), key) if not frame.empty else None
    return [] if mask is None else frame.image_id[mask].astype(int).tolist()
