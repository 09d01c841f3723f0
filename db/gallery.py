"""The Errors gallery: one evaluation's predictions by confusion cell, filtered and sorted."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select

from db.models import Prediction
from db.session import session_scope

# Dashboard read side: predictions are read as PredictionView.

CELLS = ("tn", "fp", "fn", "tp")


# Each confusion cell is (true label, predicted positive?).
CELL_DEFINITION = {"tn": (0, False), "fp": (0, True), "fn": (1, False), "tp": (1, True)}


SUSPECTS = "suspects"  # the correct predictions (tn + tp); with an attention filter, shortcuts


GALLERY_CELLS = (*CELLS, SUSPECTS)


SORTS = ("probability_asc", "probability_desc", "confident_first", "borderline_first",
         "outside_lungs_first")


# Gallery filter on the typicality check: every image, or only those outside (inside) the
# training population.
POPULATIONS = ("all", "outside", "inside")


@dataclass(frozen=True)
class PredictionView:
    """A prediction read for the dashboard: the one type the gallery, the image panel, the
    lung-outline overlay and ROAD read. Every field is read; None only where the column is."""

    prediction_id: int
    evaluation_id: int
    image_id: int
    probability: float  # P(pneumonia)
    predicted_label: int  # at the run's threshold when evaluated
    true_label: int
    cam_path: str | None  # overlay PNG, relative to the artifacts root
    cam_raw_path: str | None  # the raw CAM (.npy), relative to the artifacts root
    # Where the model looked (None where the evaluation stored no attention metrics).
    lung_share: float | None
    border_share: float | None
    peak_in_lung: bool | None
    # {"height", "width", "polygons"} in CAM pixels: the lung mask the lung share was measured
    # against; None when evaluated before outlines were kept.
    lung_outline: dict | None
    # Distance to the training images / the run's threshold; None for a run without the check.
    typicality: float | None
    outside_population: bool | None

    @property
    def has_cam(self) -> bool:
        return self.cam_path is not None

    @property
    def outside_lungs(self) -> float | None:
        """Share of the CAM's energy outside the lung mask: 1 - lung share."""
        return None if self.lung_share is None else 1.0 - self.lung_share


_VIEW_COLUMNS = (Prediction.id, Prediction.evaluation_id, Prediction.image_id,
                 Prediction.probability, Prediction.predicted_label, Prediction.true_label,
                 Prediction.cam_path, Prediction.cam_raw_path, Prediction.lung_share,
                 Prediction.border_share, Prediction.peak_in_lung, Prediction.lung_outline,
                 Prediction.typicality, Prediction.outside_population)


def _optional(cast, value):  # noqa: ANN001, ANN202 - a column value or None
    return None if value is None else cast(value)


def _view(row) -> PredictionView:  # noqa: ANN001 - a row of _VIEW_COLUMNS
    return PredictionView(
        row.id, row.evaluation_id, row.image_id, float(row.probability),
        int(row.predicted_label), int(row.true_label), row.cam_path, row.cam_raw_path,
        _optional(float, row.lung_share), _optional(float, row.border_share),
        _optional(bool, row.peak_in_lung), row.lung_outline, _optional(float, row.typicality),
        _optional(bool, row.outside_population))


@dataclass(frozen=True)
class GalleryPage:
    """One page of a gallery and how many predictions the whole gallery holds."""

    total: int
    items: list[PredictionView]


def _cell_filter(evaluation_id: int, cell: str, threshold: float,
                 min_outside: float = 0.0, population: str = "all") -> list:
    """Rows of one gallery: a confusion cell, or "suspects" (every correct prediction).

    With `min_outside` > 0 only predictions with at least that share of CAM energy outside the
    lungs (lung share <= 1 - min_outside) remain; predictions without attention metrics drop out.
    With `population` "outside" (or "inside") only images the typicality check flagged (or
    passed) remain; predictions of a run without the check drop out of both.
    """
    if cell == SUSPECTS:
        side = or_(and_(Prediction.true_label == 1, Prediction.probability >= threshold),
                   and_(Prediction.true_label == 0, Prediction.probability < threshold))
        where = [Prediction.evaluation_id == evaluation_id, side]
    else:
        true_label, predicted_positive = CELL_DEFINITION[cell]
        side = (Prediction.probability >= threshold if predicted_positive
                else Prediction.probability < threshold)
        where = [Prediction.evaluation_id == evaluation_id, Prediction.true_label == true_label,
                 side]
    if min_outside > 0:
        where.append(Prediction.lung_share <= 1.0 - min_outside)
    if population != "all":
        where.append(Prediction.outside_population.is_(population == "outside"))
    return where


def _gallery_order(cell: str, sort: str, threshold: float) -> list:
    if sort == "outside_lungs_first":  # least lung share first; no attention metrics last
        return [Prediction.lung_share.is_(None), Prediction.lung_share.asc(),
                Prediction.probability.desc()]
    if cell == SUSPECTS and sort in ("confident_first", "borderline_first"):
        # Suspects straddle the threshold: confidence is the distance from it.
        distance = func.abs(Prediction.probability - threshold)
        return [distance.desc() if sort == "confident_first" else distance.asc()]
    positive_side = CELL_DEFINITION[cell][1] if cell in CELL_DEFINITION else True
    ascending = {"probability_asc": True, "probability_desc": False,
                 "confident_first": not positive_side, "borderline_first": positive_side}[sort]
    return [Prediction.probability.asc() if ascending else Prediction.probability.desc()]


def cell_images(evaluation_id: int, cell: str, threshold: float, sort: str = "confident_first",
                limit: int = 48, offset: int = 0, min_outside: float = 0.0,
                population: str = "all", image_ids: list[int] | None = None) -> GalleryPage:
    """One page of the images in a confusion cell (or the suspects) at `threshold`, and the size.

    Every confusion cell lies on one side of the threshold, so "confident first" is an ordering
    by probability (away from the threshold) and the index serves it directly. "suspects" are
    the correct predictions; with `min_outside` they are the shortcut suspects: right, while
    looking mostly outside the lungs. `image_ids`, when given, keeps only those images.
    """
    if cell not in GALLERY_CELLS:
        raise ValueError(f"unknown confusion cell {cell!r}; use one of "
                         f"{', '.join(GALLERY_CELLS)}")
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}; use one of {', '.join(SORTS)}")
    if population not in POPULATIONS:
        raise ValueError(f"unknown population {population!r}; use one of "
                         f"{', '.join(POPULATIONS)}")
    where = _cell_filter(evaluation_id, cell, threshold, min_outside, population)
    if image_ids is not None:  # a slice (engine/evaluation/slices.py): only its images
        where.append(Prediction.image_id.in_(image_ids))
    query = (select(*_VIEW_COLUMNS).where(*where)
             .order_by(*_gallery_order(cell, sort, threshold), Prediction.id)
             .limit(limit).offset(offset))
    with session_scope() as session:
        total = session.scalar(select(func.count()).select_from(Prediction).where(*where))
        items = [_view(row) for row in session.execute(query).all()]
    return GalleryPage(int(total or 0), items)


def prediction_for(evaluation_id: int, image_id: int) -> PredictionView | None:
    return _one(select(*_VIEW_COLUMNS).where(Prediction.evaluation_id == evaluation_id,
                                             Prediction.image_id == image_id))


def prediction(prediction_id: int) -> PredictionView | None:
    return _one(select(*_VIEW_COLUMNS).where(Prediction.id == prediction_id))


def evaluation_predictions(evaluation_id: int) -> list[PredictionView]:
    """Every prediction of an evaluation, by prediction id."""
    query = (select(*_VIEW_COLUMNS).where(Prediction.evaluation_id == evaluation_id)
             .order_by(Prediction.id))
    with session_scope() as session:
        return [_view(row) for row in session.execute(query).all()]


def _one(query) -> PredictionView | None:  # noqa: ANN001 - a select of _VIEW_COLUMNS
    with session_scope() as session:
        row = session.execute(query).first()
    return _view(row) if row else None


CHOSEN = "chosen"  # a set of images picked elsewhere (the Map page's selection), by image id


def chosen_images(evaluation_id: int, image_ids: list[int], limit: int = 48,
                  offset: int = 0) -> GalleryPage:
    """One page of the evaluation's predictions of these images, most probable first."""
    where = [Prediction.evaluation_id == evaluation_id,
             Prediction.image_id.in_([int(image_id) for image_id in image_ids])]
    query = (select(*_VIEW_COLUMNS).where(*where)
             .order_by(Prediction.probability.desc(), Prediction.id).limit(limit).offset(offset))
    with session_scope() as session:
        total = session.scalar(select(func.count()).select_from(Prediction).where(*where))
        items = [_view(row) for row in session.execute(query).all()]
    return GalleryPage(int(total or 0), items)
