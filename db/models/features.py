"""What the model sees: an evaluation's feature map and a run's look-alike index.

The penultimate features themselves are artifacts (float16 .npz files under the artifacts root);
the database keeps where they are and, for the map, one 2-D point per image.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import Base, utcnow


class FeatureMap(Base):
    """One evaluation's features artifact and how its 2-D map was projected."""

    __tablename__ = "feature_maps"

    evaluation_id: Mapped[int] = mapped_column(
        ForeignKey("evaluations.id", ondelete="CASCADE"), primary_key=True)
    features_path: Mapped[str] = mapped_column(Text)  # relative to the artifacts root
    method: Mapped[str] = mapped_column(String(20))  # engine/evaluation/feature_map.py's projection
    dims: Mapped[int] = mapped_column(Integer)  # width of the penultimate features
    n_images: Mapped[int] = mapped_column(Integer)
    seconds: Mapped[float] = mapped_column(Float)  # the projection's time
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class MapPoint(Base):
    """One image's place on its evaluation's map."""

    __tablename__ = "map_points"

    evaluation_id: Mapped[int] = mapped_column(
        ForeignKey("feature_maps.evaluation_id", ondelete="CASCADE"), primary_key=True)
    image_id: Mapped[int] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True)
    x: Mapped[float] = mapped_column(Float)
    y: Mapped[float] = mapped_column(Float)


class LookalikeIndex(Base):
    """A run's training images in its feature space, with its probability on each."""

    __tablename__ = "lookalike_indexes"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"),
                                        primary_key=True)
    path: Mapped[str] = mapped_column(Text)  # relative to the artifacts root
    n_images: Mapped[int] = mapped_column(Integer)
    seconds: Mapped[float] = mapped_column(Float)  # the features-only pass over train
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
