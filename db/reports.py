"""Read side of the report (engine/report/): a run's provenance, the evaluation it reports on,
and the review verdicts counted over that evaluation's images.

No file names leave here: a dataset is named by its name, never its root, and an image only by
its database id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from db.models import REVIEW_VERDICTS, Dataset, Evaluation, Prediction, Review, Run, Split
from db.session import session_scope
from db.uploads import UPLOADS_DATASET_NAME


@dataclass(frozen=True)
class Provenance:
    """Where a run came from: code, config, data set and split, device and how long it took."""

    run_id: int
    name: str
    arch: str
    status: str
    code_version: str
    device: str
    seed: int
    config: dict
    dataset: str | None
    synthetic: bool
    split_seed: int | None
    val_fraction: float | None
    test_fraction: float | None
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    train_seconds: float | None
    best_epoch: int | None
    threshold: float
    threshold_rule: str
    temperature: float
    health_warning: str | None

    @property
    def duration_s(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return self.train_seconds


def provenance(run_id: int) -> Provenance | None:
    query = (select(Run.id, Run.name, Run.arch, Run.status, Run.code_version, Run.device,
                    Run.seed, Run.config, Dataset.name, Dataset.synthetic, Split.seed,
                    Split.val_fraction, Split.test_fraction, Run.created_at, Run.started_at,
                    Run.finished_at, Run.train_seconds, Run.best_epoch, Run.threshold,
                    Run.threshold_rule, Run.temperature, Run.health_warning)
             .outerjoin(Dataset, Dataset.id == Run.dataset_id)
             .outerjoin(Split, Split.id == Run.split_id).where(Run.id == run_id))
    with session_scope() as session:
        row = session.execute(query).first()
    if row is None:
        return None
    values = list(row)
    values[7], values[9] = dict(values[7] or {}), bool(values[9])
    return Provenance(*values)


@dataclass(frozen=True)
class ReportedEvaluation:
    """The evaluation a report shows for one run: its newest completed one of a split."""

    evaluation_id: int
    split: str
    dataset: str | None
    n_images: int
    seconds: float | None
    created_at: datetime
    on_uploads: bool  # scored uploads: their pixels never go in a report


def reported_evaluation(run_id: int, split: str) -> ReportedEvaluation | None:
    query = (select(Evaluation.id, Evaluation.split, Dataset.name, Evaluation.n_images,
                    Evaluation.seconds, Evaluation.created_at)
             .outerjoin(Dataset, Dataset.id == Evaluation.dataset_id)
             .where(Evaluation.run_id == run_id, Evaluation.split == split,
                    Evaluation.status == "completed")
             .order_by(Evaluation.id.desc()).limit(1))
    with session_scope() as session:
        row = session.execute(query).first()
    if row is None:
        return None
    return ReportedEvaluation(*row, on_uploads=row[2] == UPLOADS_DATASET_NAME)


@dataclass(frozen=True)
class VerdictCount:
    verdict: str
    reviews: int
    images: int


def verdict_counts(evaluation_id: int) -> list[VerdictCount]:
    """Every verdict (zero included) with how many reviews gave it to this evaluation's images,
    and on how many distinct images."""
    images = select(Prediction.image_id).where(Prediction.evaluation_id == evaluation_id)
    query = (select(Review.verdict, func.count(Review.id), func.count(Review.image_id.distinct()))
             .where(Review.image_id.in_(images)).group_by(Review.verdict))
    with session_scope() as session:
        found = {row[0]: (int(row[1]), int(row[2])) for row in session.execute(query).all()}
    return [VerdictCount(verdict, *found.get(verdict, (0, 0)))
            for verdict in (*REVIEW_VERDICTS, *sorted(set(found) - set(REVIEW_VERDICTS)))]
