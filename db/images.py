"""Registered images: what one image is, where its file lies, and what every run predicted."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import select

from db.models import LABEL_NAMES, Dataset, Evaluation, Image, Prediction, Run
from db.runs import CLEAN_SPLITS
from db.session import session_scope
from db.uploads import UPLOADS_DATASET_NAME


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


@dataclass(frozen=True)
class ServedImage:
    """The image a file route would serve pixels of, and whether it is a scored upload."""

    image_id: int
    upload: bool  # registered by `cxr evaluate RUN --uploads`: only uploaders see its pixels


def _served(query) -> ServedImage | None:  # noqa: ANN001 - a select of (image id, dataset)
    with session_scope() as session:
        row = session.execute(query).first()
    return ServedImage(row[0], row[1] == UPLOADS_DATASET_NAME) if row else None


def served_image(image_id: int) -> ServedImage | None:
    return _served(select(Image.id, Dataset.name).join(Dataset, Dataset.id == Image.dataset_id)
                   .where(Image.id == image_id))


def served_prediction_image(prediction_id: int) -> ServedImage | None:
    """The image a prediction (its CAM, its lung outline) was made on."""
    return _served(select(Image.id, Dataset.name).join(Dataset, Dataset.id == Image.dataset_id)
                   .join(Prediction, Prediction.image_id == Image.id)
                   .where(Prediction.id == prediction_id))


def evaluation_on_uploads(evaluation_id: int) -> bool:
    """Whether an evaluation scored the registered uploads (its gallery shows their pixels)."""
    query = (select(Dataset.name).join(Evaluation, Evaluation.dataset_id == Dataset.id)
             .where(Evaluation.id == evaluation_id))
    with session_scope() as session:
        return session.scalar(query) == UPLOADS_DATASET_NAME


@dataclass(frozen=True)
class ImageFile:
    """Where a registered image's file lies, as ingest recorded it."""

    root: str  # the dataset root
    rel_path: str  # relative to the root
    real_path: str | None  # resolved at ingest, symlinks followed (None: before it was kept)

    @property
    def path(self) -> str:
        """The file as registered: the dataset root joined with the relative path."""
        return f"{self.root}/{self.rel_path}"


def image_files(image_ids: list[int]) -> dict[int, ImageFile]:
    """Image id -> where its file lies, for the registered ones among `image_ids`."""
    query = (select(Image.id, Dataset.root, Image.rel_path, Image.real_path)
             .join(Dataset, Dataset.id == Image.dataset_id).where(Image.id.in_(image_ids)))
    with session_scope() as session:
        return {row[0]: ImageFile(*row[1:]) for row in session.execute(query).all()}


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
