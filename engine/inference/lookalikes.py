"""Look-alikes: the training images nearest to an image in a run's feature space.

Exact search: squared Euclidean distances from one query to every training image of the run's
look-alike index (engine/evaluation/feature_map.py), as one float32 matrix-vector product, and
the k smallest by a partial sort. The index is loaded once per file and kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from db import feature_map as store
from db import runs
from db.models import LABEL_NAMES
from db.session import artifacts_root
from engine.evaluation.feature_map import FeatureFile, evaluation_features

NEIGHBOURS = 8
INDEX_CACHE_SIZE = 8


@dataclass(frozen=True)
class Lookalike:
    """One training image near the query, and how the run did on it."""

    image_id: int
    distance: float  # Euclidean, in the run's feature space
    true_label: int
    probability: float  # the run's calibrated P(pneumonia) on it
    predicted_label: int  # at the run's threshold

    @property
    def correct(self) -> bool:
        return self.predicted_label == self.true_label

    @property
    def label_name(self) -> str:
        return LABEL_NAMES[self.true_label]

    def as_dict(self) -> dict:
        return {"image_id": self.image_id, "distance": round(self.distance, 4),
                "label": self.label_name, "probability": round(self.probability, 6),
                "predicted": LABEL_NAMES[self.predicted_label], "correct": self.correct}


class Index:
    """A run's training features, ready for exact nearest-neighbour queries."""

    def __init__(self, index: FeatureFile) -> None:
        self.image_ids = index.image_ids
        self.features = np.ascontiguousarray(index.features, dtype=np.float32)
        self.squared_norms = np.einsum("ij,ij->i", self.features, self.features)
        self.probability = index.probability
        self.label = index.label

    def nearest(self, query: np.ndarray, k: int = NEIGHBOURS,
                exclude: int | None = None) -> list[tuple[int, float]]:
        """(row, distance) of the k nearest rows to one (F,) query, nearest first."""
        query = np.asarray(query, dtype=np.float32).ravel()
        squared = self.squared_norms - 2.0 * (self.features @ query) + float(query @ query)
        if exclude is not None:
            squared[self.image_ids == exclude] = np.inf
        k = min(k, int(np.isfinite(squared).sum()))
        if k <= 0:
            return []
        rows = np.argpartition(squared, k - 1)[:k]
        rows = rows[np.argsort(squared[rows], kind="stable")]
        return [(int(row), float(np.sqrt(max(squared[row], 0.0)))) for row in rows]


@lru_cache(maxsize=INDEX_CACHE_SIZE)
def _load(path: str, _mtime_ns: int) -> Index:
    return Index(FeatureFile.load(Path(path)))


def run_index(run_id: int) -> Index | None:
    """The run's look-alike index, or None for a run evaluated before they were kept."""
    info = store.lookalike_index(run_id)
    if info is None:
        return None
    path = artifacts_root() / info.path
    if not path.is_file():
        return None
    return _load(str(path), path.stat().st_mtime_ns)


def nearest_training_images(run_id: int, features: np.ndarray, k: int = NEIGHBOURS,
                            exclude_image: int | None = None) -> list[Lookalike] | None:
    """The k training images nearest to `features` in the run's space (None: no index)."""
    index = run_index(run_id)
    if index is None:
        return None
    threshold = runs.get_run(run_id).threshold
    return [Lookalike(int(index.image_ids[row]), distance, int(index.label[row]),
                      float(index.probability[row]),
                      int(index.probability[row] >= threshold))
            for row, distance in index.nearest(features, k, exclude_image)]


def lookalikes_of_image(run_id: int, evaluation_id: int, image_id: int,
                        k: int = NEIGHBOURS) -> list[Lookalike] | None:
    """Look-alikes of an evaluated image, from its evaluation's stored features (None where the
    evaluation or the run has none)."""
    features = evaluation_features(evaluation_id)
    if features is None:
        return None
    rows = np.flatnonzero(features.image_ids == image_id)
    if not len(rows):
        return None
    return nearest_training_images(run_id, features.features[rows[0]], k, image_id)


def lookalikes_of_gray(run_id: int, gray: np.ndarray, k: int = NEIGHBOURS,
                       device: str | None = None) -> list[Lookalike] | None:
    """Look-alikes of a decoded image (an upload): one features-only pass of the run's model."""
    if run_index(run_id) is None:
        return None
    from engine.inference.scoring import get_scorer

    return nearest_training_images(run_id, get_scorer(run_id, device).features(gray), k)
