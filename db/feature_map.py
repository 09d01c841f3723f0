"""Feature maps and look-alike indexes: where an evaluation's features artifact and a run's
training-feature index are, and each image's point on the map, read with what colours it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import delete, func, select

from db.models import (
    Evaluation,
    FeatureMap,
    Image,
    LookalikeIndex,
    MapPoint,
    Prediction,
    Review,
)
from db.session import session_scope


@dataclass(frozen=True)
class FeatureMapInfo:
    evaluation_id: int
    features_path: str  # relative to the artifacts root
    method: str
    dims: int
    n_images: int
    seconds: float


@dataclass(frozen=True)
class LookalikeIndexInfo:
    run_id: int
    path: str  # relative to the artifacts root
    n_images: int
    seconds: float


def record_feature_map(info: FeatureMapInfo, image_ids: np.ndarray, xy: np.ndarray) -> None:
    """Store (or replace) an evaluation's map: its artifact's place and one point per image."""
    points = [{"evaluation_id": info.evaluation_id, "image_id": int(image_id),
               "x": float(x), "y": float(y)}
              for image_id, (x, y) in zip(image_ids, xy, strict=True)]
    with session_scope(write=True) as session:
        session.execute(delete(MapPoint).where(MapPoint.evaluation_id == info.evaluation_id))
        session.execute(delete(FeatureMap).where(FeatureMap.evaluation_id == info.evaluation_id))
        session.add(FeatureMap(evaluation_id=info.evaluation_id,
                               features_path=info.features_path, method=info.method,
                               dims=info.dims, n_images=info.n_images, seconds=info.seconds))
        session.flush()
        if points:
            session.execute(MapPoint.__table__.insert(), points)


def feature_map(evaluation_id: int) -> FeatureMapInfo | None:
    """The evaluation's map, or None when it was evaluated before maps were kept."""
    with session_scope() as session:
        row = session.get(FeatureMap, evaluation_id)
        if row is None:
            return None
        return FeatureMapInfo(row.evaluation_id, row.features_path, row.method, row.dims,
                              row.n_images, row.seconds)


MAP_COLUMNS = ["image_id", "x", "y", "probability", "true_label", "subtype",
               "outside_population", "verdict"]


def map_frame(evaluation_id: int) -> pd.DataFrame:
    """Every point of an evaluation's map with what the Map page colours by (MAP_COLUMNS):
    the prediction, the image's subtype and its latest review verdict (None if unreviewed)."""
    latest = (select(Review.image_id, func.max(Review.id).label("review_id"))
              .group_by(Review.image_id).subquery())
    query = (select(MapPoint.image_id, MapPoint.x, MapPoint.y, Prediction.probability,
                    Prediction.true_label, Image.subtype, Prediction.outside_population,
                    Review.verdict)
             .join(Prediction, (Prediction.evaluation_id == MapPoint.evaluation_id)
                   & (Prediction.image_id == MapPoint.image_id))
             .join(Image, Image.id == MapPoint.image_id)
             .outerjoin(latest, latest.c.image_id == MapPoint.image_id)
             .outerjoin(Review, Review.id == latest.c.review_id)
             .where(MapPoint.evaluation_id == evaluation_id)
             .order_by(MapPoint.image_id))
    with session_scope() as session:
        rows = session.execute(query).all()
    return pd.DataFrame([tuple(row) for row in rows], columns=MAP_COLUMNS)


def record_lookalike_index(info: LookalikeIndexInfo) -> None:
    with session_scope(write=True) as session:
        session.execute(delete(LookalikeIndex).where(LookalikeIndex.run_id == info.run_id))
        session.add(LookalikeIndex(run_id=info.run_id, path=info.path, n_images=info.n_images,
                                   seconds=info.seconds))


def lookalike_index(run_id: int) -> LookalikeIndexInfo | None:
    """The run's look-alike index, or None for a run evaluated before they were kept."""
    with session_scope() as session:
        row = session.get(LookalikeIndex, run_id)
        if row is None:
            return None
        return LookalikeIndexInfo(row.run_id, row.path, row.n_images, row.seconds)


def evaluation_with_image(run_id: int, image_id: int) -> int | None:
    """The latest of the run's evaluations whose map holds this image (None: none does)."""
    with session_scope() as session:
        return session.scalar(
            select(MapPoint.evaluation_id)
            .join(Evaluation, Evaluation.id == MapPoint.evaluation_id)
            .where(Evaluation.run_id == run_id, MapPoint.image_id == image_id)
            .order_by(MapPoint.evaluation_id.desc()).limit(1))
