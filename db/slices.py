"""Slices read side: one evaluation's predictions with what ingest and review recorded per image.

engine/evaluation/slices.py groups these rows into subgroups (pneumonia subtype, source folder,
image size, outside the training population, patients with several images, review verdict);
the frame is consumed whole, so it is a DataFrame.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import func, select

from db.models import Image, Prediction, Review
from db.session import session_scope

SLICE_COLUMNS = ("image_id", "prediction_id", "true_label", "probability", "outside_population",
                 "subtype", "source_folder", "width", "height", "patient_images", "verdict")


def slice_frame(evaluation_id: int) -> pd.DataFrame:
    """One row per prediction of `evaluation_id`, by image id, with the image's attributes.

    `patient_images` counts the usable images its patient has in the dataset (not only in this
    split); `verdict` is the image's newest review verdict (None: never reviewed).
    """
    per_patient = (select(Image.dataset_id, Image.patient_id,
                          func.count(Image.id).label("patient_images"))
                   .where(Image.status == "ok")
                   .group_by(Image.dataset_id, Image.patient_id).subquery())
    newest_review = (select(Review.image_id, func.max(Review.id).label("review_id"))
                     .group_by(Review.image_id).subquery())
    query = (select(Prediction.image_id, Prediction.id, Prediction.true_label,
                    Prediction.probability, Prediction.outside_population, Image.subtype,
                    Image.source_folder, Image.width, Image.height,
                    per_patient.c.patient_images, Review.verdict)
             .join(Image, Image.id == Prediction.image_id)
             .outerjoin(per_patient, (per_patient.c.dataset_id == Image.dataset_id)
                        & (per_patient.c.patient_id == Image.patient_id))
             .outerjoin(newest_review, newest_review.c.image_id == Image.id)
             .outerjoin(Review, Review.id == newest_review.c.review_id)
             .where(Prediction.evaluation_id == evaluation_id)
             .order_by(Prediction.image_id))
    with session_scope() as session:
        rows = session.execute(query).all()
    frame = pd.DataFrame([tuple(row) for row in rows], columns=list(SLICE_COLUMNS))
    return frame.astype({"image_id": "int64", "prediction_id": "int64", "true_label": "int64",
                         "probability": "float64"})
