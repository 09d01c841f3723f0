"""Live scoring: a completed run's model, loaded once per process, scores images with Grad-CAM.

Preprocessing is the training and evaluation path (`engine.data.pixels`), and probabilities and
CAMs come from `engine.explain.gradcam.CamExplainer` in one pass, so a scored upload gets exactly
the answer an evaluation would give for the same pixels.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from db import runs
from db.models import LABEL_NAMES
from db.session import artifacts_root, database_url
from engine.data.decode import decode_bytes, decode_file
from engine.data.pixels import array_to_gray
from engine.errors import UserError
from engine.evaluation.typicality import outside
from engine.explain.gradcam import overlay
from engine.inference.predictor import ENSEMBLE_ARCH, predictor_for, require_checkpoint
from engine.training.devices import resolve_device

# Models kept warm per process; a small CNN is a few MB, a ResNet-34 about 85 MB.
MODEL_CACHE_SIZE = 8
DEFAULT_BATCH_SIZE = 32
# Features of the images a scorer scored last, so their look-alikes need no second forward.
RECENT_FEATURES = 64

ImageInput = str | Path | bytes | np.ndarray


@dataclass(frozen=True)
class RunScore:
    """One run's answer for one image."""

    run_id: int
    run_name: str
    probability: float  # P(pneumonia)
    predicted_label: int  # 1 = PNEUMONIA, at the run's threshold
    threshold: float
    inference_ms: float  # preprocessing + forward + Grad-CAM, per image
    gray: np.ndarray  # the model's input, (size, size) uint8
    cam: np.ndarray  # Grad-CAM in [0, 1], (size, size)
    # Distance to the training images / the run's threshold (engine/evaluation/typicality.py);
    # None for a run without typicality stats.
    typicality: float | None = None

    @property
    def outside_population(self) -> bool | None:
        return outside(self.typicality)

    @property
    def label_name(self) -> str:
        return LABEL_NAMES[self.predicted_label]

    def overlay(self) -> np.ndarray:
        """RGB uint8 Grad-CAM overlay on the model's input."""
        return overlay(self.gray, self.cam)


class Scorer:
    """One run's model and Grad-CAM explainer. Get one with `get_scorer(run_id)`."""

    def __init__(self, run: runs.RunInfo, device: str | None = None) -> None:
        start = time.perf_counter()
        self.run = run
        # The run's own predictor: temperature, threshold, TTA, or an ensemble's members, with
        # the model(s) on `device` (None: $CXR_DEVICE, else auto: the GPU when there is one).
        self._explainer = predictor_for(run, device)
        self.image_size = self._explainer.size
        # The explainer keeps per-call state (hooks, activations): one caller at a time.
        self._lock = threading.Lock()
        self._recent: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self.load_ms = (time.perf_counter() - start) * 1000

    def score(self, image: ImageInput) -> RunScore:
        """Probability, label at the run's threshold and Grad-CAM for one image."""
        return self.score_batch([to_gray(image)])[0]

    def score_batch(self, grays: list[np.ndarray],
                    batch_size: int = DEFAULT_BATCH_SIZE) -> list[RunScore]:
        """Score decoded grayscale images (any size) in batches."""
        scores: list[RunScore] = []
        for offset in range(0, len(grays), batch_size):
            start = time.perf_counter()
            batch = np.stack([array_to_gray(gray, self.image_size)
                              for gray in grays[offset:offset + batch_size]])
            with self._lock:
                probabilities, cams, typicality = self._explainer.explain_full(batch)
                self._remember(batch, self._explainer.last_features)
            per_image_ms = (time.perf_counter() - start) * 1000 / len(batch)
            typicality = [None] * len(batch) if typicality is None else typicality.tolist()
            for gray, probability, cam, distance in zip(batch, probabilities, cams, typicality,
                                                        strict=True):
                scores.append(RunScore(
                    run_id=self.run.id, run_name=self.run.name, probability=float(probability),
                    predicted_label=int(probability >= self.run.threshold),
                    threshold=self.run.threshold, inference_ms=per_image_ms, gray=gray, cam=cam,
                    typicality=distance))
        return scores

    def features(self, gray: np.ndarray) -> np.ndarray:
        """One image's penultimate features in the run's space (an ensemble's first member's):
        those its scoring pass tapped when it was just scored, else one features-only pass."""
        batch = array_to_gray(to_gray(gray), self.image_size)[None]
        with self._lock:
            known = self._recent.get(_pixels_key(batch[0]))
            return known if known is not None else self._explainer.features_only(batch)[1][0]

    def _remember(self, batch: np.ndarray, features: np.ndarray | None) -> None:
        if features is None or len(features) != len(batch):
            return
        for pixels, found in zip(batch, features, strict=True):
            self._recent[_pixels_key(pixels)] = found
        while len(self._recent) > RECENT_FEATURES:
            self._recent.popitem(last=False)


def _pixels_key(pixels: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(pixels).tobytes(), digest_size=16).digest()


@lru_cache(maxsize=MODEL_CACHE_SIZE)
def _cached_scorer(_database: str, _checkpoints: tuple, run_id: int, _threshold: float,
                   _calibration: tuple, device: str) -> Scorer:
    # The key holds the database, the checkpoint files' identities, the threshold and the
    # temperature, so a changed checkpoint or another CXR_HOME never serves a stale model;
    # and the device, so a model asked for on the CPU is never the GPU's.
    return Scorer(runs.get_run(run_id), device)


def _checkpoint_identity(run: runs.RunInfo) -> tuple:
    """(path, mtime) of every checkpoint behind a run: its own, or its ensemble members'."""
    if run.arch == ENSEMBLE_ARCH:
        return tuple(item for member in run.config["members"]
                     for item in _checkpoint_identity(runs.get_run(member)))
    require_checkpoint(run, "score uploads")
    if not run.checkpoint_path:
        raise UserError(f"run {run.id} has no checkpoint")
    checkpoint = artifacts_root() / run.checkpoint_path
    try:
        return ((str(checkpoint), checkpoint.stat().st_mtime_ns),)
    except OSError as exc:
        raise UserError(f"run {run.id}: checkpoint {checkpoint} is missing") from exc


def get_scorer(run_id: int, device: str | None = None) -> Scorer:
    """The warm scorer of a completed run (loaded on first use, then kept in an LRU cache),
    on `device` (None: $CXR_DEVICE, else auto)."""
    run = runs.get_run(run_id)
    if run.status != "completed":
        raise UserError(f"run {run_id} is {run.status}; only completed runs can score images")
    return _cached_scorer(database_url(), _checkpoint_identity(run), run_id, run.threshold,
                          (run.temperature, run.logit_offset), str(resolve_device(device)))


def to_gray(image: ImageInput, name: str = "image") -> np.ndarray:
    """A path, the bytes of a file, or a gray array -> a 2-D uint8 array (DecodeError if bad)."""
    if isinstance(image, np.ndarray):
        if image.ndim != 2 or image.dtype != np.uint8:
            raise ValueError(f"expected a 2-D uint8 gray image, got {image.shape} {image.dtype}")
        return image
    if isinstance(image, bytes):
        return decode_bytes(image, name)
    return decode_file(image)

