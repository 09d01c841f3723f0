"""The read side: plain dataclasses and DataFrames, never ORM rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import numpy as np
import pandas as pd
from sqlalchemy import and_, distinct, func, or_, select

from db.models import (
    Dataset,
    Epoch,
    Evaluation,
    Image,
    Prediction,
    Review,
    Run,
    RunMetric,
    Split,
    SplitAssignment,
    Upload,
    UploadScore,
)
from db.session import database_url, session_scope

METRIC_COLUMNS = ("accuracy", "roc_auc", "f1", "sensitivity", "specificity", "ece")
# Splits the val/test views read. Robustness checks ("val-shift") are evaluations too, but they
# score val under an artificial shift: they must never stand in for a run's val or test.
CLEAN_SPLITS = ("val", "test", "external")
ENSEMBLE_ARCH = "ensemble"  # engine.predictor.ENSEMBLE_ARCH (db/ does not import the engine)


def latest_evaluation_ids(run_ids: list[int] | None = None) -> dict[tuple[int, str], int]:
    """(run_id, split) -> id of the newest completed evaluation of that split."""
    query = select(Evaluation.run_id, Evaluation.split, Evaluation.id).where(
        Evaluation.status == "completed", Evaluation.split.in_(CLEAN_SPLITS))
    if run_ids is not None:
        query = query.where(Evaluation.run_id.in_(run_ids))
    with session_scope() as session:
        rows = session.execute(query.order_by(Evaluation.id)).all()
    return {(row.run_id, row.split): row.id for row in rows}


def runs_signature() -> tuple:
    """A cheap fingerprint of everything run_records() shows: it changes when a run is added,
    changes status or records an epoch, and when an evaluation or metric row is written. One
    round trip of index-only aggregates, so a cache of the Runs table can be checked per
    request instead of rebuilding 1,000 rows."""
    def scalar(statement):  # noqa: ANN001, ANN202
        return statement.scalar_subquery()

    query = select(
        scalar(select(func.count(Run.id))), scalar(select(func.max(Run.id))),
        scalar(select(func.count(Run.id)).where(Run.status == "completed")),
        scalar(select(func.count(Run.id)).where(Run.status == "failed")),
        scalar(select(func.count(Run.id)).where(Run.status == "running")),
        scalar(select(func.max(Epoch.id))), scalar(select(func.max(Evaluation.id))),
        scalar(select(func.count(Evaluation.id)).where(Evaluation.status == "completed")),
        scalar(select(func.max(RunMetric.id))))
    with session_scope() as session:
        return tuple(session.execute(query).one())


def runs_table(run_ids: list[int] | None = None, threshold_rule: str = "youden") -> pd.DataFrame:
    """One row per run: identity, config, status, timings, and val/test metrics."""
    return pd.DataFrame.from_records(run_records(run_ids, threshold_rule))


def run_records(run_ids: list[int] | None = None, threshold_rule: str = "youden") -> list[dict]:
    """runs_table() as plain dicts (None where a value is missing), in run id order.

    Plain column selects (no ORM objects), and no DataFrame: the dashboard's runs table sends
    1,000 runs per request as records, and a DataFrame round trip cost more than the SQL.
    """
    query = (select(Run.id, Run.name, Run.arch, Run.status, Dataset.name, Dataset.synthetic,
                    Run.config, Run.seed, Run.best_epoch, Run.started_at, Run.finished_at,
                    Run.threshold, Run.failure_reason, Run.threshold_rule, Run.temperature,
                    Run.health_warning)
             .outerjoin(Dataset, Dataset.id == Run.dataset_id).order_by(Run.id))
    metric_query = (select(Evaluation.run_id, Evaluation.split, Evaluation.id,
                           RunMetric.threshold_rule,
                           *[getattr(RunMetric, column) for column in METRIC_COLUMNS],
                           Evaluation.ece_uncalibrated)
                    .join(RunMetric, RunMetric.evaluation_id == Evaluation.id)
                    .where(Evaluation.status == "completed", Evaluation.split.in_(("val", "test")))
                    .order_by(Evaluation.id))
    if run_ids is not None:
        query = query.where(Run.id.in_(run_ids))
        metric_query = metric_query.where(Evaluation.run_id.in_(run_ids))
    with session_scope() as session:
        runs = session.execute(query).all()
        metric_rows = session.execute(metric_query).all()
    # Newest completed evaluation per (run, split); within it, the requested rule, else 0.5.
    chosen: dict[tuple[int, str], tuple] = {}
    for row in metric_rows:
        key = (row[0], row[1])
        current = chosen.get(key)
        if (current is None or row[2] > current[2]
                or (row[2] == current[2] and row[3] == threshold_rule)):
            chosen[key] = row
    records = []
    for (run_id, name, arch, status, dataset, synthetic, config, seed, best_epoch, started,
         finished, threshold, failure, rule, temperature, warning) in runs:
        config = config or {}
        record = {
            "run_id": run_id, "name": name, "arch": arch, "status": status,
            "is_ensemble": arch == ENSEMBLE_ARCH, "members": ensemble_members_text(config),
            "recipe": config.get("recipe"), "tta": bool(config.get("tta")),
            "threshold_rule": rule, "temperature": temperature,
            "dataset": dataset, "synthetic": bool(synthetic),
            "image_size": config.get("image_size"), "batch_size": config.get("batch_size"),
            "schedule": config.get("schedule"), "seed": seed, "epochs": config.get("epochs"),
            "best_epoch": best_epoch,
            "duration_s": (finished - started).total_seconds() if finished and started
            else None,
            "threshold": threshold, "failure_reason": failure,
            "health_warning": warning, "health": health_badge(warning),
        }
        for split in ("val", "test"):
            row = chosen.get((run_id, split))
            for offset, column in enumerate(METRIC_COLUMNS):
                record[f"{split}_{column}"] = row[4 + offset] if row else None
            record[f"{split}_ece_uncalibrated"] = row[4 + len(METRIC_COLUMNS)] if row else None
            record[f"{split}_evaluation_id"] = row[2] if row else None
        records.append(record)
    return records


def ensemble_members_text(config: dict) -> str | None:
    """"#3 resnet18 + #4 small_cnn (prob)" for an ensemble's config, else None."""
    members = config.get("members")
    if not members:
        return None
    archs = config.get("member_archs") or [""] * len(members)
    parts = [f"#{member} {arch}".strip() for member, arch in zip(members, archs, strict=False)]
    return " + ".join(parts) + f" ({config.get('combine', 'prob')})"


def health_badge(warning: str | None) -> str | None:
    """"⚠ constant predictions" for a run's health warning (its words before the colon)."""
    return f"⚠ {warning.partition(':')[0]}" if warning else None


def evaluation_metrics(evaluation_id: int) -> pd.DataFrame:
    with session_scope() as session:
        rows = session.scalars(select(RunMetric).where(
            RunMetric.evaluation_id == evaluation_id).order_by(RunMetric.id)).all()
        return pd.DataFrame.from_records([
            {column.name: getattr(row, column.name) for column in RunMetric.__table__.columns}
            for row in rows])


# ---------------------------------------------------------------------------------------------
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
class RunSummary:
    id: int
    name: str
    arch: str
    status: str
    threshold: float
    threshold_rule: str
    split_id: int | None
    dataset: str | None
    synthetic: bool

    @property
    def label(self) -> str:
        return f"#{self.id} {self.name} ({self.arch})"

    @property
    def is_ensemble(self) -> bool:
        return self.arch == ENSEMBLE_ARCH


@dataclass(frozen=True)
class GalleryItem:
    prediction_id: int
    image_id: int
    probability: float
    true_label: int
    has_cam: bool
    # Where the model looked (None where the evaluation stored no CAM metrics).
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


@dataclass(frozen=True)
class ReviewInfo:
    id: int
    image_id: int
    run_id: int | None
    verdict: str
    note: str
    reviewer: str
    created_at: datetime


def _url() -> str:
    return database_url()


def count_runs() -> int:
    with session_scope() as session:
        return int(session.scalar(select(func.count(Run.id))) or 0)


def run_summaries(only_evaluated: bool = True) -> list[RunSummary]:
    """Runs for pickers, newest first; by default only runs with a completed evaluation."""
    query = (select(Run.id, Run.name, Run.arch, Run.status, Run.threshold, Run.threshold_rule,
                    Run.split_id, Dataset.name, Dataset.synthetic)
             .outerjoin(Dataset, Dataset.id == Run.dataset_id).order_by(Run.id.desc()))
    if only_evaluated:
        evaluated = select(Evaluation.run_id).where(Evaluation.status == "completed",
                                                    Evaluation.split.in_(CLEAN_SPLITS))
        query = query.where(Run.id.in_(evaluated))
    with session_scope() as session:
        return [RunSummary(*row[:8], bool(row[8])) for row in session.execute(query).all()]


def run_summary(run_id: int) -> RunSummary | None:
    query = (select(Run.id, Run.name, Run.arch, Run.status, Run.threshold, Run.threshold_rule,
                    Run.split_id, Dataset.name, Dataset.synthetic)
             .outerjoin(Dataset, Dataset.id == Run.dataset_id).where(Run.id == run_id))
    with session_scope() as session:
        row = session.execute(query).first()
    return RunSummary(*row[:8], bool(row[8])) if row else None


def evaluation_id_for(run_id: int, split: str) -> int | None:
    """The newest completed evaluation of `split` for a run."""
    query = (select(Evaluation.id).where(Evaluation.run_id == run_id, Evaluation.split == split,
                                         Evaluation.status == "completed")
             .order_by(Evaluation.id.desc()).limit(1))
    with session_scope() as session:
        return session.scalar(query)


def evaluation_splits(run_id: int) -> list[str]:
    query = (select(Evaluation.split).where(Evaluation.run_id == run_id,
                                            Evaluation.status == "completed").distinct())
    with session_scope() as session:
        found = set(session.scalars(query).all())
    return [split for split in ("val", "test", "external") if split in found]


@lru_cache(maxsize=256)
def _evaluation_arrays(url: str, evaluation_id: int) -> tuple[np.ndarray, np.ndarray]:
    query = (select(Prediction.probability, Prediction.true_label)
             .where(Prediction.evaluation_id == evaluation_id))
    with session_scope(url=url) as session:
        rows = session.execute(query).all()
    probability = np.fromiter((row[0] for row in rows), dtype=float, count=len(rows))
    labels = np.fromiter((row[1] for row in rows), dtype=int, count=len(rows))
    probability.flags.writeable = False
    labels.flags.writeable = False
    return probability, labels


def evaluation_arrays(evaluation_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(P(pneumonia), true label) of every prediction of one evaluation, read-only and cached.

    A completed evaluation never changes, so the arrays are cached per (database, evaluation);
    the read is a covering scan of ix_predictions_eval_label_prob.
    """
    return _evaluation_arrays(_url(), evaluation_id)


def evaluation_roc(evaluation_id: int) -> dict | None:
    with session_scope() as session:
        return session.scalar(select(Evaluation.roc_curve).where(Evaluation.id == evaluation_id))


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
    lungs (lung share <= 1 - min_outside) remain; predictions without CAM metrics drop out.
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
    if sort == "outside_lungs_first":  # least lung share first; no CAM metrics last
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


def image_info(image_id: int) -> ImageInfo | None:
    query = (select(Image.id, Image.rel_path, Image.label, Image.patient_id, Image.subtype,
                    Image.source_folder, Image.width, Image.height, Image.status, Dataset.name,
                    Dataset.synthetic)
             .join(Dataset, Dataset.id == Image.dataset_id).where(Image.id == image_id))
    with session_scope() as session:
        row = session.execute(query).first()
    return ImageInfo(*row[:10], bool(row[10])) if row else None


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
    frame["predicted"] = np.where(frame.probability >= frame.threshold, "PNEUMONIA", "NORMAL")
    return frame


def reviews_for(image_id: int) -> list[ReviewInfo]:
    query = (select(Review.id, Review.image_id, Review.run_id, Review.verdict, Review.note,
                    Review.reviewer, Review.created_at)
             .where(Review.image_id == image_id).order_by(Review.created_at.desc(),
                                                           Review.id.desc()))
    with session_scope() as session:
        return [ReviewInfo(*row) for row in session.execute(query).all()]


def epochs_for(run_ids: list[int]) -> pd.DataFrame:
    columns = ["run_id", "epoch", "train_loss", "val_loss", "val_accuracy", "val_auc"]
    query = (select(Epoch.run_id, Epoch.epoch, Epoch.train_loss, Epoch.val_loss,
                    Epoch.val_accuracy, Epoch.val_auc)
             .where(Epoch.run_id.in_(run_ids)).order_by(Epoch.run_id, Epoch.epoch))
    with session_scope() as session:
        return pd.DataFrame(session.execute(query).all(), columns=columns)


def paired_predictions(evaluation_a: int, evaluation_b: int) -> pd.DataFrame:
    """Images both evaluations scored: true label, each side's probability and lung share."""
    frames = []
    for suffix, evaluation_id in (("a", evaluation_a), ("b", evaluation_b)):
        query = (select(Prediction.image_id, Prediction.true_label, Prediction.probability,
                        Prediction.id, Prediction.lung_share)
                 .where(Prediction.evaluation_id == evaluation_id))
        with session_scope() as session:
            frames.append(pd.DataFrame(session.execute(query).all(), columns=[
                "image_id", "true_label", f"probability_{suffix}", f"prediction_id_{suffix}",
                f"lung_share_{suffix}"]))
    return frames[0].merge(frames[1].drop(columns="true_label"), on="image_id").sort_values(
        "image_id", ignore_index=True)


# --- Dataset page ------------------------------------------------------------------------------

@dataclass(frozen=True)
class DatasetInfo:
    id: int
    name: str
    root: str
    synthetic: bool
    n_ok: int
    n_skipped: int


def datasets() -> list[DatasetInfo]:
    counts = (select(Image.dataset_id, Image.status, func.count())
              .group_by(Image.dataset_id, Image.status))
    with session_scope() as session:
        by_status = {(row[0], row[1]): row[2] for row in session.execute(counts).all()}
        rows = session.execute(select(Dataset.id, Dataset.name, Dataset.root, Dataset.synthetic)
                               .order_by(Dataset.id)).all()
    return [DatasetInfo(row[0], row[1], row[2], bool(row[3]), by_status.get((row[0], "ok"), 0),
                        by_status.get((row[0], "skipped"), 0)) for row in rows]


def splits_of(dataset_id: int) -> pd.DataFrame:
    query = (select(Split.id, Split.seed, Split.val_fraction, Split.test_fraction)
             .where(Split.dataset_id == dataset_id).order_by(Split.id))
    with session_scope() as session:
        return pd.DataFrame(session.execute(query).all(),
                            columns=["split_id", "seed", "val_fraction", "test_fraction"])


def split_balance(split_id: int) -> pd.DataFrame:
    """Per subset and label: images, patients; and pneumonia subtypes per subset."""
    query = (select(SplitAssignment.subset, Image.label, Image.subtype,
                    func.count().label("images"),
                    func.count(distinct(Image.patient_id)).label("patients"))
             .join(Image, Image.id == SplitAssignment.image_id)
             .where(SplitAssignment.split_id == split_id)
             .group_by(SplitAssignment.subset, Image.label, Image.subtype))
    with session_scope() as session:
        return pd.DataFrame(session.execute(query).all(),
                            columns=["subset", "label", "subtype", "images", "patients"])


def split_patient_counts(split_id: int) -> pd.DataFrame:
    query = (select(SplitAssignment.subset, Image.label,
                    func.count(distinct(Image.patient_id)).label("patients"))
             .join(Image, Image.id == SplitAssignment.image_id)
             .where(SplitAssignment.split_id == split_id)
             .group_by(SplitAssignment.subset, Image.label))
    with session_scope() as session:
        return pd.DataFrame(session.execute(query).all(), columns=["subset", "label", "patients"])


def leaked_patients(split_id: int) -> list[str]:
    """Patients whose images sit in more than one subset of a split (should be none)."""
    query = (select(Image.patient_id).join(SplitAssignment, SplitAssignment.image_id == Image.id)
             .where(SplitAssignment.split_id == split_id).group_by(Image.patient_id)
             .having(func.count(distinct(SplitAssignment.subset)) > 1).order_by(Image.patient_id))
    with session_scope() as session:
        return list(session.scalars(query).all())


def skipped_files(dataset_id: int, limit: int = 500) -> pd.DataFrame:
    query = (select(Image.rel_path, Image.skip_reason)
             .where(Image.dataset_id == dataset_id, Image.status == "skipped")
             .order_by(Image.rel_path).limit(limit))
    with session_scope() as session:
        return pd.DataFrame(session.execute(query).all(), columns=["file", "reason"])


# --- Files: database rows that name files (relative to a root the caller checks) ----------------

def image_location(image_id: int) -> tuple[str, str] | None:
    """(dataset root, path relative to it) of a registered image."""
    query = (select(Dataset.root, Image.rel_path).join(Dataset, Dataset.id == Image.dataset_id)
             .where(Image.id == image_id))
    with session_scope() as session:
        row = session.execute(query).first()
    return (row[0], row[1]) if row else None


def prediction_cam_path(prediction_id: int) -> str | None:
    with session_scope() as session:
        return session.scalar(select(Prediction.cam_path).where(Prediction.id == prediction_id))


def prediction_cam_files(prediction_id: int) -> tuple[int, str | None, str | None] | None:
    """(image id, overlay PNG path, raw CAM path) of a prediction; paths relative to artifacts."""
    query = select(Prediction.image_id, Prediction.cam_path, Prediction.cam_raw_path).where(
        Prediction.id == prediction_id)
    with session_scope() as session:
        row = session.execute(query).first()
    return (row[0], row[1], row[2]) if row else None


def upload_stored_path(upload_id: int) -> tuple[str, str] | None:
    """(path relative to the artifacts root, file format) of an upload."""
    with session_scope() as session:
        row = session.execute(select(Upload.stored_path, Upload.file_format)
                              .where(Upload.id == upload_id)).first()
    return (row[0], row[1]) if row else None


def upload_score_cam_path(upload_score_id: int) -> str | None:
    with session_scope() as session:
        return session.scalar(select(UploadScore.cam_path)
                              .where(UploadScore.id == upload_score_id))
