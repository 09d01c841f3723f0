"""Classical lung-field segmentation: thresholding, morphology and the largest components.

Good enough to ask "is the heatmap on the lungs?", fast enough (about a millisecond at 128 px)
to run for every prediction on a CPU. It is a heuristic, not a clinical segmentation: on a frontal
film the lungs are the two large dark regions inside the bright body. We equalise the histogram,
blur away the rib shadows, threshold at Otsu's level computed on the central part of the film,
intersect with a generous anatomical prior for each side (so the air around the body is never
taken for lung), open to cut thin links, keep the largest component on each side and fill it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# A lung mask covering less or more than this share of the image is implausible.
PLAUSIBLE_AREA = (0.10, 0.45)


def _odd(value: float) -> int:
    size = max(int(round(value)), 1)
    return size if size % 2 else size + 1


def _side_prior(height: int, width: int, centre_x: float) -> np.ndarray:
    """A generous ellipse where one lung field can be on a frontal chest film."""
    prior = np.zeros((height, width), np.uint8)
    cv2.ellipse(prior, (int(centre_x * width), int(0.47 * height)),
                (int(0.21 * width), int(0.38 * height)), 0, 0, 360, 1, thickness=-1)
    return prior


def lung_mask(gray: np.ndarray) -> np.ndarray:
    """(H, W) uint8 image -> (H, W) bool mask of the lung fields."""
    height, width = gray.shape
    scale = min(height, width) / 224.0
    image = cv2.equalizeHist(np.ascontiguousarray(gray))
    # Blur enough to wash out rib shadows, so each lung field reads as one dark region.
    image = cv2.GaussianBlur(image, (_odd(11 * scale), _odd(11 * scale)), 0)
    top, bottom = int(0.15 * height), int(0.85 * height)
    left, right = int(0.15 * width), int(0.85 * width)
    level, _ = cv2.threshold(image[top:bottom, left:right], 0, 255,
                             cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    dark = (image < level).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (_odd(7 * scale), _odd(7 * scale)))
    mask = np.zeros((height, width), np.uint8)
    for centre_x in (0.29, 0.71):
        side = cv2.morphologyEx(dark & _side_prior(height, width, centre_x), cv2.MORPH_OPEN,
                                kernel)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(side, connectivity=8)
        if count <= 1:
            continue
        largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        if stats[largest, cv2.CC_STAT_AREA] < 0.01 * height * width:
            continue
        component = (labels == largest).astype(np.uint8)
        contours, _ = cv2.findContours(component, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(mask, contours, -1, 1, thickness=cv2.FILLED)  # fill holes
    return mask.astype(bool)


# Outline polygons are simplified to within this many pixels of the mask's edge (at the CAM's
# size), which keeps a prediction's outline to a few hundred bytes.
OUTLINE_TOLERANCE_PX = 0.75


def lung_outline(mask: np.ndarray) -> dict:
    """The outline of a lung mask, stored with the prediction and drawn by the dashboard:
    {"height", "width", "polygons": one [x0, y0, x1, y1, ...] per lung field, in the mask's
    pixels}."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    polygons = [cv2.approxPolyDP(contour, OUTLINE_TOLERANCE_PX, closed=True)
                for contour in contours]
    return {"height": int(mask.shape[0]), "width": int(mask.shape[1]),
            "polygons": [polygon.reshape(-1).astype(int).tolist() for polygon in polygons
                         if len(polygon) >= 3]}


DISPLAY_SIZE = 384  # small CAMs (64-224 px) are scaled up so the outline stays crisp
OUTLINE_RGB = (0, 255, 255)


def outline_overlay(overlay: np.ndarray, outline: dict | None,
                    display_size: int = DISPLAY_SIZE) -> np.ndarray:
    """(h, w, 3) CAM overlay and its stored outline -> RGB overlay with the outline drawn (the
    dashboard serves it, the report embeds it).

    The polygons are in the CAM's pixels ({"height", "width", "polygons"}); they are scaled
    with the overlay.
    """
    size = max(display_size, overlay.shape[0])
    canvas = np.ascontiguousarray(cv2.resize(overlay, (size, size),
                                             interpolation=cv2.INTER_LINEAR))
    if not outline or not outline.get("polygons"):
        return canvas
    # Pixel centres: pixel i of the CAM covers [i, i + 1) of its width; the canvas is scaled.
    scale = np.array([size / outline["width"], size / outline["height"]])
    contours = [np.round((np.asarray(polygon, float).reshape(-1, 1, 2) + 0.5) * scale - 0.5)
                .astype(np.int32) for polygon in outline["polygons"]]
    cv2.polylines(canvas, contours, isClosed=True, color=OUTLINE_RGB,
                  thickness=max(size // 160, 2), lineType=cv2.LINE_AA)
    return canvas


def area_fraction(mask: np.ndarray) -> float:
    return float(mask.mean())


@dataclass(frozen=True)
class MaskCheck:
    n_images: int
    plausible: int
    area_mean: float
    area_p05: float
    area_p95: float
    outliers: list[tuple[str, float]]

    @property
    def plausible_share(self) -> float:
        return self.plausible / self.n_images if self.n_images else 0.0


def check_masks(names: list[str], grays: np.ndarray) -> MaskCheck:
    """Mask-area sanity check across a set of images: share plausible, and the outliers."""
    areas = np.array([area_fraction(lung_mask(gray)) for gray in grays])
    low, high = PLAUSIBLE_AREA
    ok = (areas >= low) & (areas <= high)
    outliers = sorted(((name, float(area)) for name, area, good in zip(names, areas, ok,
                                                                       strict=True)
                       if not good), key=lambda item: item[1])
    return MaskCheck(len(names), int(ok.sum()), float(areas.mean()),
                     float(np.percentile(areas, 5)), float(np.percentile(areas, 95)), outliers)


def check_dataset_masks(root: str, image_size: int) -> MaskCheck:
    """`check_masks` over every readable image of the dataset folder `root`."""
    from engine.data.discover import discover
    from engine.data.pixels import load_store

    entries = discover(root)
    grays, failures = load_store([str(e.path) for e in entries], image_size, cache=False)
    failed = {index for index, _ in failures}
    kept = [i for i in range(len(entries)) if i not in failed]
    return check_masks([entries[i].rel_path for i in kept], grays[kept])
