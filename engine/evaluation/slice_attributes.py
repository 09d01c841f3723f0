"""What a slice can be cut by: a small registry of image attributes.

Each attribute turns the rows of db/slices.py's `slice_frame` into one value per image (a short
label such as "virus" or "outside"; None where the store does not know it). Adding an attribute
is one `Attribute(...)` line in ATTRIBUTES, plus its column in `slice_frame` when it needs one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

# Longest side, in pixels, as ingest read it from the file.
SIZE_BUCKETS = ((512, "<512px"), (1024, "512-1023px"), (2048, "1024-2047px"),
                (np.inf, ">=2048px"))
# Width / height.
ASPECT_BUCKETS = ((0.9, "portrait <0.9"), (1.1, "square 0.9-1.1"), (1.4, "landscape 1.1-1.4"),
                  (np.inf, "wide >=1.4"))


@dataclass(frozen=True)
class Attribute:
    name: str  # as the URL and the CLI spell it
    title: str  # as a table heads it
    values: Callable[[pd.DataFrame], pd.Series]  # one label per row, None where unknown
    # Why no image has a value (an older store, a run without the check, nobody reviewed yet).
    missing: str


def _buckets(values: pd.Series, buckets: tuple) -> pd.Series:
    def label(value: float) -> str | None:
        if value is None or not np.isfinite(value):
            return None
        return next(name for upper, name in buckets if value < upper)

    return values.astype("float64").map(label).astype("object")


def _subtype(frame: pd.DataFrame) -> pd.Series:
    # Kaggle names pneumonia files person1_bacteria_1 / person1_virus_6; NORMAL has no subtype.
    subtype = frame.subtype.astype("object")
    return subtype.where(subtype.notna(), np.where(frame.true_label == 0, "normal",
                                                   "pneumonia, no subtype"))


def _known_subtype(frame: pd.DataFrame) -> pd.Series:
    if frame.subtype.isna().all():
        return frame.subtype.astype("object")  # no Kaggle names here: unknown throughout
    return _subtype(frame)


def _source_folder(frame: pd.DataFrame) -> pd.Series:
    return frame.source_folder.astype("object").map(lambda v: None if v is None else (v or "root"))


def _size(frame: pd.DataFrame) -> pd.Series:
    longest = np.fmax(frame.width.astype("float64"), frame.height.astype("float64"))
    return _buckets(longest, SIZE_BUCKETS)


def _aspect(frame: pd.DataFrame) -> pd.Series:
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = frame.width.astype("float64") / frame.height.astype("float64")
    return _buckets(ratio, ASPECT_BUCKETS)


def _population(frame: pd.DataFrame) -> pd.Series:
    return frame.outside_population.map(
        lambda v: None if v is None or v != v else ("outside" if v else "inside"))


def _patient_images(frame: pd.DataFrame) -> pd.Series:
    def label(count: float) -> str | None:
        if count is None or count != count:
            return None
        return "1 image" if count <= 1 else ("2-3 images" if count <= 3 else "4+ images")

    return frame.patient_images.map(label).astype("object")


def _verdict(frame: pd.DataFrame) -> pd.Series:
    verdict = frame.verdict.astype("object")
    if verdict.isna().all():
        return verdict  # nobody reviewed any: unknown, not "not reviewed" everywhere
    return verdict.where(verdict.notna(), "not reviewed")


ATTRIBUTES = (
    Attribute("subtype", "Pneumonia subtype", _known_subtype,
              "no file name says bacteria or virus (not the Kaggle naming)"),
    Attribute("folder", "Source folder", _source_folder, "no source folder recorded"),
    Attribute("size", "Image size (longest side)", _size,
              "image sizes were not recorded at ingest"),
    Attribute("aspect", "Aspect ratio (width / height)", _aspect,
              "image sizes were not recorded at ingest"),
    Attribute("population", "Training population", _population,
              "this run has no typicality check (trained before it existed)"),
    Attribute("patient", "Images of the same patient", _patient_images,
              "no patient ids recorded"),
    Attribute("verdict", "Review verdict", _verdict, "no image here has been reviewed yet"),
)
BY_NAME = {attribute.name: attribute for attribute in ATTRIBUTES}


def attribute_values(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """Each registered attribute's label per row of a slice frame."""
    return {attribute.name: attribute.values(frame).reset_index(drop=True)
            for attribute in ATTRIBUTES}
