"""Where does each model look? Per-prediction attention metrics of its Grad-CAM, as pure
functions over arrays ("attention" is the one name for them: db/attention.py aggregates them).

- border share: CAM energy in the outer band of the image, where markers, labels and
  collimator edges sit;
- lung share: CAM energy inside the classical lung mask (engine/explain/lungmask.py), whose outline
  is kept with the metrics so the dashboard draws the very region that was measured;
- peak in lung: whether the CAM maximum falls inside the lung mask (a pointing-game hit);
- lesion share / lesion hit: the same against a true lesion mask, where one is known (synthetic
  demo data), i.e. the energy-based pointing game and the classic one.

"Energy" is the sum of CAM values. A CAM with no energy at all (all zeros) gets NaN shares.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.explain.lungmask import lung_mask, lung_outline

BORDER_BAND = 0.12


def border_band(height: int, width: int, band: float = BORDER_BAND) -> np.ndarray:
    mask = np.ones((height, width), bool)
    dy, dx = max(int(round(band * height)), 1), max(int(round(band * width)), 1)
    mask[dy:height - dy, dx:width - dx] = False
    return mask


def energy_share(cam: np.ndarray, region: np.ndarray) -> float:
    total = float(cam.sum())
    if total <= 0:
        return float("nan")
    return float(cam[region].sum() / total)


def peak_inside(cam: np.ndarray, region: np.ndarray) -> bool:
    return bool(region.flat[int(np.argmax(cam))])


@dataclass(frozen=True)
class AttentionMetrics:
    border_share: float
    lung_share: float
    peak_in_lung: bool
    lung_area: float
    lesion_share: float | None = None
    lesion_hit: bool | None = None
    lung_outline: dict | None = None  # polygons in CAM pixels (engine/explain/lungmask.py)


def attention_metrics(gray: np.ndarray, cam: np.ndarray,
                      lesion: np.ndarray | None = None) -> AttentionMetrics:
    """Metrics of one CAM over its (same-size) grayscale image and optional lesion mask."""
    lungs = lung_mask(gray)
    border = border_band(*cam.shape)
    return AttentionMetrics(
        border_share=energy_share(cam, border),
        lung_share=energy_share(cam, lungs) if lungs.any() else float("nan"),
        peak_in_lung=peak_inside(cam, lungs),
        lung_area=float(lungs.mean()),
        lesion_share=energy_share(cam, lesion) if lesion is not None else None,
        lesion_hit=peak_inside(cam, lesion) if lesion is not None else None,
        lung_outline=lung_outline(lungs),
    )
