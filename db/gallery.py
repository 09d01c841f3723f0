"""The Errors gallery: one evaluation's predictions by confusion cell, filtered and sorted."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select

from db.models import Prediction
from db.session import session_scope

# Dashboard read side. Every function returns plain values, dataclasses, arrays or DataFrames.

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
class GalleryItem:
    prediction_id: int
    image_id: int
    probability: float
    true_label: int
    has_cam: bool
    # Where the model looked (None where the evaluation stored no attention metrics).
    lung_share: float | None = None
    border_share: float | None = None
    peak_in_lung: bool | None = None
    # Distance to the training images / the run's threshold; None for a run without the check.
    typicality: float | None = None
    outside_population: bool | None = None

    @property
    def outside_lungs(self) -> float | None:
        """Share of the CAM's energy outside the lung mask: 1 - lung share."""
        return None if self.lung_share is None else 1.0 - self.lung_share


def _gallery_columns() -> tuple:
    return (Prediction.id, Prediction.image_id, Prediction.probability, Prediction.true_label,
            Prediction.cam_path.is_not(None), Prediction.lung_share, Prediction.border_share,
            Prediction.peak_in_lung, Prediction.typicality, Prediction.outside_population)


def _gallery_item(row) -> GalleryItem:
    return GalleryItem(row[0], row[1], float(row[2]), int(row[3]), bool(row[4]),
                       None if row[5] is None else float(row[5]),
                       None if row[6] is None else float(row[6]),
                       None if row[7] is None else bool(row[7]),
                       None if row[8] is None else float(row[8]),
                       None if row[9] is None else bool(row[9]))


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
                population: str = "all") -> tuple[int, list[GalleryItem]]:
    """One page of the images in a confusion cell (or the suspects) at `threshold`, and the size.

    Every confusion cell lies on one side of the threshold, so "confident first" is an ordering
    by probability (away from the threshold) and the index serves it directly. "suspects" are
    the correct predictions; with `min_outside` they are the shortcut suspects: right, while
    looking mostly outside the lungs.
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
    query = (select(*_gallery_columns()).where(*where)
             .order_by(*_gallery_order(cell, sort, threshold), Prediction.id)
             .limit(limit).offset(offset))
    with session_scope() as session:
        total = session.scalar(select(func.count()).select_from(Prediction).where(*where))
        items = [_gallery_item(row) for row in session.execute(query).all()]
    return int(total or 0), items


def prediction_for(evaluation_id: int, image_id: int) -> GalleryItem | None:
    query = (select(*_gallery_columns())
             .where(Prediction.evaluation_id == evaluation_id, Prediction.image_id == image_id))
    with session_scope() as session:
        row = session.execute(query).first()
    return _gallery_item(row) if row else None
