"""Suspected label errors: cleanlab ranks a crossval run's out-of-fold predictions.

Each training image's given label is scored by cleanlab's self-confidence, the out-of-fold
probability of that label (low: the models that never saw the image disagree with it), and
flagged or not by confident learning (`find_label_issues`, pruning by the estimated noise rate).
The rank orders every image, flagged or not; the queue shows the flagged ones in rank order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from db import label_issues as store


@dataclass(frozen=True, eq=False)
class LabelRanking:
    """Per image, in the input order: cleanlab's label quality, its rank (1 = most likely
    mislabelled) and whether confident learning flags it."""

    label_quality: np.ndarray
    rank: np.ndarray
    suspected: np.ndarray


def rank_labels(labels: np.ndarray, probability: np.ndarray) -> LabelRanking:
    """cleanlab's ranking of binary labels from out-of-fold P(pneumonia)."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    labels = np.asarray(labels, dtype=int)
    probability = np.clip(np.asarray(probability, dtype=float), 1e-6, 1 - 1e-6)
    pred_probs = np.column_stack([1 - probability, probability])
    quality = get_label_quality_scores(labels, pred_probs, method="self_confidence")
    order = np.argsort(quality, kind="stable")
    rank = np.empty(len(labels), dtype=int)
    rank[order] = np.arange(1, len(labels) + 1)
    suspected = (find_label_issues(labels, pred_probs, filter_by="prune_by_noise_rate")
                 if len(set(labels.tolist())) == 2 else np.zeros(len(labels), dtype=bool))
    return LabelRanking(quality, rank, np.asarray(suspected, dtype=bool))


def rank_and_store(run_id: int, evaluation_id: int, fold_of_image: dict[int, int]) -> int:
    """Rank the `oof` evaluation's predictions and store one label issue row per image.
    Returns how many are flagged."""
    oof = store.out_of_fold(evaluation_id)
    ranking = rank_labels(np.array([row.given_label for row in oof]),
                          np.array([row.probability for row in oof]))
    store.store_label_issues(run_id, [
        store.LabelIssueRow(image_id=row.image_id, prediction_id=row.prediction_id,
                            fold=fold_of_image[row.image_id],
                            label_quality=float(quality), rank=int(rank),
                            suspected=bool(flagged))
        for row, quality, rank, flagged in zip(oof, ranking.label_quality, ranking.rank,
                                               ranking.suspected, strict=True)])
    return int(ranking.suspected.sum())
