"""What the model sees: each evaluation's penultimate features, their 2-D map, and the run's
training images in the same space (the look-alike index).

Evaluation already reads the features (the classifier head's input) in its Grad-CAM pass
(engine/inference/predictor.py); here they are kept as one float16 artifact per evaluation,
`runs/<run>/eval-<evaluation>/features.npz`, and projected to one 2-D point per image, stored in
the database (db/feature_map.py). The projection is PCA: the measured choice, see the "Feature
map" section of docs/results.md.

The look-alike index, `runs/<run>/lookalikes.npz`, holds the run's training images' features
with the run's own calibrated probability on each, from a features-only pass over the train split
(no Grad-CAM) made once per run, at its first evaluation. An ensemble's feature space is its
first member's; its probabilities are the ensemble's own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from db import feature_map as store
from db import runs
from db.files import atomic_write
from db.session import artifacts_root
from db.splits import split_images
from engine.errors import UserError

FEATURES_FILE = "features.npz"
LOOKALIKES_FILE = "lookalikes.npz"
PROJECTION = "pca"


@dataclass(frozen=True, eq=False)
class FeatureFile:
    """Features of a set of images; the look-alike index adds the run's P and the true label."""

    image_ids: np.ndarray  # (N,) int64
    features: np.ndarray  # (N, F) float16
    probability: np.ndarray | None = None  # (N,) float32, calibrated P(pneumonia)
    label: np.ndarray | None = None  # (N,) int8

    def save(self, path: Path) -> None:
        arrays = {"image_ids": self.image_ids.astype(np.int64),
                  "features": self.features.astype(np.float16)}
        if self.probability is not None:
            arrays["probability"] = self.probability.astype(np.float32)
            arrays["label"] = self.label.astype(np.int8)
        atomic_write(path, lambda out: np.savez(out, **arrays))

    @classmethod
    def load(cls, path: Path) -> FeatureFile:
        try:
            with np.load(path, allow_pickle=False) as stored:
                return cls(stored["image_ids"], stored["features"],
                           stored["probability"] if "probability" in stored else None,
                           stored["label"] if "label" in stored else None)
        except (OSError, KeyError, ValueError) as exc:
            raise UserError(f"features file {path} cannot be read ({exc}); re-evaluate the "
                            "run to write it again") from exc


def project(features: np.ndarray) -> np.ndarray:
    """(N, F) features -> (N, 2) map coordinates: the first two principal components."""
    from sklearn.decomposition import PCA

    values = np.asarray(features, dtype=np.float32)
    if len(values) < 2 or values.shape[1] < 2:
        return np.zeros((len(values), 2), dtype=np.float32)
    return PCA(n_components=2, random_state=0).fit_transform(values).astype(np.float32)


def record_evaluation_map(run_id: int, evaluation_id: int, image_ids: list[int],
                          features: np.ndarray) -> store.FeatureMapInfo:
    """Save an evaluation's features (float16), project them and store the map's points."""
    path = artifacts_root() / "runs" / str(run_id) / f"eval-{evaluation_id}" / FEATURES_FILE
    ids = np.asarray(image_ids, dtype=np.int64)
    FeatureFile(ids, np.asarray(features, dtype=np.float16)).save(path)
    start = time.perf_counter()
    xy = project(features)
    info = store.FeatureMapInfo(evaluation_id, path.relative_to(artifacts_root()).as_posix(),
                                PROJECTION, int(features.shape[1]), len(ids),
                                time.perf_counter() - start)
    store.record_feature_map(info, ids, xy)
    return info


def evaluation_features(evaluation_id: int) -> FeatureFile | None:
    """An evaluation's stored features, or None when it was evaluated before they were kept."""
    info = store.feature_map(evaluation_id)
    if info is None:
        return None
    return FeatureFile.load(artifacts_root() / info.features_path)


def build_lookalike_index(run: runs.RunInfo, batch_size: int = 64,
                          device: object = None) -> store.LookalikeIndexInfo | None:
    """A features-only pass of the run over its train split, saved as its look-alike index."""
    from engine.data.pixels import load_store
    from engine.inference.predictor import predictor_for

    images = split_images(run.split_id, "train") if run.split_id is not None else []
    if not images:
        return None
    start = time.perf_counter()
    predictor = predictor_for(run, device)
    try:
        store_pixels, failures = load_store([image.path for image in images], predictor.size)
        failed = {index for index, _ in failures}
        kept = [index for index in range(len(images)) if index not in failed]
        probabilities, features = [], []
        for offset in range(0, len(kept), batch_size):
            probability, feature = predictor.features_only(
                store_pixels[kept[offset:offset + batch_size]])
            probabilities.append(probability)
            features.append(feature.astype(np.float16))
    finally:
        predictor.close()
    if not kept:
        return None
    index = FeatureFile(np.array([images[i].image_id for i in kept], dtype=np.int64),
                        np.concatenate(features), np.concatenate(probabilities),
                        np.array([images[i].label for i in kept], dtype=np.int8))
    path = artifacts_root() / "runs" / str(run.id) / LOOKALIKES_FILE
    index.save(path)
    info = store.LookalikeIndexInfo(run.id, path.relative_to(artifacts_root()).as_posix(),
                                    len(kept), time.perf_counter() - start)
    store.record_lookalike_index(info)
    return info


def ensure_lookalike_index(run: runs.RunInfo, batch_size: int = 64,
                           device: object = None) -> store.LookalikeIndexInfo | None:
    """The run's look-alike index, built on first need (its first evaluation)."""
    return store.lookalike_index(run.id) or build_lookalike_index(run, batch_size, device)


def keep_feature_map(run: runs.RunInfo, evaluation_id: int, rows: list,
                     features: np.ndarray | None, batch_size: int, device: object) -> None:
    """After an evaluation completes: its map, and the run's look-alike index if it has none.

    `rows` are the evaluation's PredictionRows, in the order of `features`. A failure here
    leaves the evaluation complete, without a map (the Map page then asks for a re-evaluation).
    """
    if features is None or not rows:
        return
    try:
        record_evaluation_map(run.id, evaluation_id, [row.image_id for row in rows], features)
        ensure_lookalike_index(run, batch_size, device)
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"warning: the feature map of evaluation {evaluation_id} was not kept ({exc})",
              flush=True)
