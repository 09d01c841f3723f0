"""The label issues aggregate: a crossval run's out-of-fold predictions ranked by cleanlab
(engine/evaluation/label_issues.py), the suspected-label-error queue and its readers."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, exists, func, select

from db.models import Image, LabelIssue, Prediction, Review, Run
from db.session import session_scope

OOF_SPLIT = "oof"  # engine/training/crossval.py: one out-of-fold prediction per training image


@dataclass(frozen=True)
class OutOfFold:
    """One out-of-fold prediction, as the ranking reads it."""

    image_id: int
    prediction_id: int
    given_label: int
    probability: float  # P(pneumonia) from the fold model that held the image out


@dataclass(frozen=True)
class LabelIssueRow:
    """A ranked image to store (the write side)."""

    image_id: int
    prediction_id: int
    fold: int
    label_quality: float
    rank: int
    suspected: bool


@dataclass(frozen=True)
class LabelIssueView:
    """One image of the suspected-label-error queue, for the page and `cxr label-issues`."""

    rank: int
    image_id: int
    prediction_id: int
    rel_path: str
    given_label: int
    probability: float  # out-of-fold P(pneumonia)
    label_quality: float  # cleanlab's self-confidence: low means likely mislabelled
    fold: int
    suspected: bool
    has_cam: bool


@dataclass(frozen=True)
class SuspectedLabelError:
    """An image a crossval run flags as a suspected label error, with cleanlab's score."""

    image_id: int
    label_quality: float
    rank: int


@dataclass(frozen=True)
class LabelQueue:
    """The unreviewed flagged images of a run (`items`, in rank order, at most the limit),
    how many are flagged in all and how many of those were already reviewed on the run."""

    run_id: int
    items: list[LabelIssueView]
    flagged: int
    reviewed: int
    ranked: int  # images ranked (flagged or not): 0 for a run never cross-validated


@dataclass(frozen=True)
class CrossvalRun:
    id: int
    name: str
    status: str
    folds: int | None
    ranked: int

    @property
    def label(self) -> str:
        return f"#{self.id} {self.name} ({self.folds or '?'}-fold crossval, {self.ranked} images)"


def out_of_fold(evaluation_id: int) -> list[OutOfFold]:
    query = (select(Prediction.image_id, Prediction.id, Prediction.true_label,
                    Prediction.probability)
             .where(Prediction.evaluation_id == evaluation_id).order_by(Prediction.image_id))
    with session_scope() as session:
        return [OutOfFold(*row) for row in session.execute(query).all()]


def store_label_issues(run_id: int, rows: list[LabelIssueRow]) -> None:
    """Replace the run's ranking by `rows`, in one transaction."""
    with session_scope(write=True) as session:
        session.execute(delete(LabelIssue).where(LabelIssue.run_id == run_id))
        if rows:
            session.execute(LabelIssue.__table__.insert(), [
                {"run_id": run_id, "image_id": r.image_id, "prediction_id": r.prediction_id,
                 "fold": r.fold, "label_quality": r.label_quality, "rank": r.rank,
                 "suspected": r.suspected} for r in rows])


def _reviewed_on(run_id: int):  # noqa: ANN202
    """Whether the issue's image has a review saved on this run."""
    return exists().where(Review.image_id == LabelIssue.image_id, Review.run_id == run_id)


def label_queue(run_id: int, limit: int = 20, offset: int = 0, only_suspected: bool = True,
                include_reviewed: bool = False) -> LabelQueue:
    """The run's flagged images nobody has reviewed on it yet, most likely mislabelled first
    (with `only_suspected=False`, every ranked image; `include_reviewed`, reviewed ones too)."""
    base = select(LabelIssue).where(LabelIssue.run_id == run_id)
    query = (select(LabelIssue.rank, LabelIssue.image_id, LabelIssue.prediction_id,
                    Image.rel_path, Prediction.true_label, Prediction.probability,
                    LabelIssue.label_quality, LabelIssue.fold, LabelIssue.suspected,
                    Prediction.cam_path.is_not(None))
             .join(Image, Image.id == LabelIssue.image_id)
             .join(Prediction, Prediction.id == LabelIssue.prediction_id)
             .where(LabelIssue.run_id == run_id)
             .order_by(LabelIssue.rank).limit(max(int(limit), 0)).offset(max(int(offset), 0)))
    if only_suspected:
        query = query.where(LabelIssue.suspected.is_(True))
    if not include_reviewed:
        query = query.where(~_reviewed_on(run_id))
    flagged_query = select(func.count()).select_from(
        base.where(LabelIssue.suspected.is_(True)).subquery())
    reviewed_query = select(func.count()).select_from(
        base.where(LabelIssue.suspected.is_(True), _reviewed_on(run_id)).subquery())
    with session_scope() as session:
        items = [LabelIssueView(*row[:9], bool(row[9])) for row in session.execute(query).all()]
        ranked = session.scalar(select(func.count(LabelIssue.id))
                                .where(LabelIssue.run_id == run_id)) or 0
        return LabelQueue(run_id, items, session.scalar(flagged_query) or 0,
                          session.scalar(reviewed_query) or 0, ranked)


def suspected_label_errors(run_id: int) -> list[SuspectedLabelError]:
    """Every image the run flags as a suspected label error (reviewed or not), by rank: for
    other views (e.g. as an attribute of an image)."""
    query = (select(LabelIssue.image_id, LabelIssue.label_quality, LabelIssue.rank)
             .where(LabelIssue.run_id == run_id, LabelIssue.suspected.is_(True))
             .order_by(LabelIssue.rank))
    with session_scope() as session:
        return [SuspectedLabelError(*row) for row in session.execute(query).all()]


def crossval_runs() -> list[CrossvalRun]:
    """Runs with a stored ranking (completed crossval runs), newest first."""
    ranked = (select(LabelIssue.run_id, func.count(LabelIssue.id).label("ranked"))
              .group_by(LabelIssue.run_id).subquery())
    query = (select(Run.id, Run.name, Run.status, Run.config, ranked.c.ranked)
             .join(ranked, ranked.c.run_id == Run.id).order_by(Run.id.desc()))
    with session_scope() as session:
        return [CrossvalRun(run_id, name, status, (config or {}).get("folds"), count)
                for run_id, name, status, config, count in session.execute(query).all()]


def is_crossval(run_id: int) -> bool:
    """Whether the run was made by `cxr crossval` (its config says so), ranked or not."""
    with session_scope() as session:
        config = session.scalar(select(Run.config).where(Run.id == run_id))
    return bool(config) and config.get("origin") == "crossval"



def verdict_refusal(run_id: int, image_id: int, verdict: str, user_id: int | None,
                    reviewer: str) -> str | None:
    """Why a queue verdict on (run, image) is not saved, or None to save it: the run must be a
    crossval run with a ranking holding the image, and the same reviewer's same verdict on the
    same run and image is kept once."""
    with session_scope() as session:
        if not is_crossval(run_id) or session.scalar(
                select(func.count(LabelIssue.id)).where(LabelIssue.run_id == run_id)) == 0:
            return f"run {run_id} is not a crossval run with a label ranking; pick one above"
        if session.scalar(select(LabelIssue.id).where(LabelIssue.run_id == run_id,
                                                      LabelIssue.image_id == image_id)) is None:
            return f"image {image_id} is not in run {run_id}'s label ranking; nothing saved"
        same = select(Review.id).where(
            Review.run_id == run_id, Review.image_id == image_id, Review.verdict == verdict,
            Review.user_id == user_id if user_id is not None else Review.reviewer == reviewer)
        if session.scalar(same.limit(1)) is not None:
            return (f"“{verdict}” for image {image_id} on run {run_id} is already saved by you; "
                    "not saved twice")
    return None
