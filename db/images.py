"""Registered images: what one image is, where its file lies, and what every run predicted."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import select

from db.models import LABEL_NAMES, Dataset, Evaluation, Image, Prediction, Run
from db.runs import CLEAN_SPLITS
from db.session import session_scope


@dataclass(frozen=True)
class ImageInfo:
    id: int
    rel_path: str
    label: int
    patient_id: str
    subtype: str | None
    source_folder: str
    width: int | None
    height: int | None
    status: str
    dataset: str
    synthetic: bool


def image_info(image_id: int) -> ImageInfo | None:
    query = (select(Image.id, Image.rel_path, Image.label, Image.patient_id, Image.subtype,
                    Image.source_folder, Image.width, Image.height, Image.status, Dataset.name,
                    Dataset.synthetic)
             .join(Dataset, Dataset.id == Image.dataset_id).where(Image.id == image_id))
    with session_scope() as session:
        row = session.execute(query).first()
    return ImageInfo(*row[:10], bool(row[10])) if row else None


def image_location(image_id: int) -> tuple[str, str] | None:
    """(dataset root, path relative to it) of a registered image."""
    query = (select(Dataset.root, Image.rel_path).join(Dataset, Dataset.id == Image.dataset_id)
             .where(Image.id == image_id))
    with session_scope() as session:
        row = session.execute(query).first()
    return (row[0], row[1]) if row else None


@dataclass(frozen=True)
class ImageFile:
    """Where a registered image's file lies, as ingest recorded it."""

    root: str  # the dataset root
    rel_path: str  # relative to the root
    real_path: str | None  # resolved at ingest, symlinks followed (None: before it was kept)


def image_file(image_id: int) -> ImageFile | None:
    query = (select(Dataset.root, Image.rel_path, Image.real_path)
             .join(Dataset, Dataset.id == Image.dataset_id).where(Image.id == image_id))
    with session_scope() as session:
        row = session.execute(query).first()
    return ImageFile(*row) if row else None


def image_predictions(image_id: int) -> pd.DataFrame:
    """What every run predicted for one image (newest evaluation per run and split)."""
    query = (select(Run.id.label("run_id"), Run.name, Run.arch, Run.threshold,
                    Evaluation.split, Evaluation.id.label("evaluation_id"),
                    Prediction.id.label("prediction_id"), Prediction.probability)
             .join(Evaluation, Evaluation.id == Prediction.evaluation_id)
             .join(Run, Run.id == Evaluation.run_id)
             .where(Prediction.image_id == image_id, Evaluation.status == "completed",
                    Evaluation.split.in_(CLEAN_SPLITS))
             .order_by(Run.id, Evaluation.id))
    with session_scope() as session:
        frame = pd.DataFrame(session.execute(query).mappings().all(),
                             columns=["run_id", "name", "arch", "threshold", "split",
                                      "evaluation_id", "prediction_id", "probability"])
    if frame.empty:
        return frame
    frame = frame.drop_duplicates(["run_id", "split"], keep="last").reset_index(drop=True)
    frame["predicted"] = np.where(frame.probability >= frame.threshold, LABEL_NAMES[1],
                                  LABEL_NAMES[0])
    return frame
