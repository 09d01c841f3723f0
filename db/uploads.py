"""Uploads scored live: their writes and reads. ORM rows stay here; callers get dataclasses."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from db.audit import Actor, add_event
from db.models import LABEL_NAMES, Dataset, Image, Run, Upload, UploadScore, utcnow
from db.registry import production_run_id
from db.session import session_scope

# Names are cut to the lengths their columns declare.
UPLOADED_BY_CHARS = Upload.__table__.c.uploaded_by.type.length
LABELLED_BY_CHARS = Upload.__table__.c.labelled_by.type.length

UPLOADS_DATASET_NAME = "uploads"


@dataclass(frozen=True)
class StoredUpload:
    """A stored upload: the one type every layer passes, from here to the Score page."""

    id: int
    sha256: str
    stored_path: str  # relative to the artifacts root
    file_format: str  # what is stored: PNG or DICOM (JPEG for files stored before 0013)
    size_bytes: int
    created_at: datetime
    true_label: int | None
    labelled_by: str | None
    labelled_at: datetime | None
    input_check: str | None = None  # the failed input check a forced score overrode
    uploaded_by: str | None = None  # the user who first stored it ("cli:<login>" from cxr score)
    deidentified: tuple[str, ...] = ()  # DICOM: attributes the stored copy lost

    @property
    def display_name(self) -> str:
        """The generated name shown for it: the uploaded file name is never stored."""
        return f"upload {self.id}"


@dataclass(frozen=True)
class StoredBy:
    """Who stores an upload, and (DICOM only, else None) what de-identification removed."""

    actor: Actor
    deidentified: list[str] | None = None


class ScoreToStore(Protocol):
    """An in-memory score before it is stored (engine.scoring.RunScore), as this module needs it."""

    run_id: int
    probability: float
    predicted_label: int
    threshold: float
    inference_ms: float
    typicality: float | None  # distance / the run's threshold; above 1 is outside

    @property
    def outside_population(self) -> bool | None: ...


@dataclass(frozen=True)
class StoredScore:
    """A stored score of an upload by one run: the one type from here to the Score page."""

    id: int
    upload_id: int
    run_id: int
    run_name: str
    probability: float
    predicted_label: int
    threshold: float
    cam_path: str | None  # overlay PNG, relative to the artifacts root
    inference_ms: float
    created_at: datetime
    typicality: float | None = None
    outside_population: bool | None = None
    forced: bool = False  # scored past a failed input check
    from_production: bool | None = None  # held `production` when stored (None: before aliases)

    @property
    def label_name(self) -> str:
        return LABEL_NAMES[self.predicted_label]

    @property
    def assessable(self) -> bool:
        """False when the image is unlike the run's training images: its label means nothing."""
        return self.outside_population is not True


def disagreement(scores: Iterable[StoredScore]) -> bool:
    """True when the runs fall on different sides of their own thresholds: each score's
    predicted_label is at its own run's threshold. Only assessable scores count: a run that finds
    the image unlike its training images gives no verdict to agree or disagree with. The one
    definition, for the CLI, the Score page's results and its history."""
    return len({score.predicted_label for score in scores if score.assessable}) > 1


@dataclass(frozen=True)
class ScoredUpload:
    """A stored upload with scores: those just recorded, or (history) each run's latest."""

    upload: StoredUpload
    scores: tuple[StoredScore, ...]

    @property
    def disagreement(self) -> bool:
        return disagreement(self.scores)

    @property
    def outside_population(self) -> bool:
        return any(score.outside_population for score in self.scores)

    @property
    def assessable(self) -> bool:
        """Whether any run gives a verdict: without one, agreement is not assessable."""
        return any(score.assessable for score in self.scores)

    @property
    def forced(self) -> bool:
        return any(score.forced for score in self.scores)


def _upload_info(row: Upload) -> StoredUpload:
    return StoredUpload(row.id, row.sha256, row.stored_path, row.file_format, row.size_bytes,
                      row.created_at, row.true_label, row.labelled_by, row.labelled_at,
                      row.input_check, uploaded_by=row.uploaded_by,
                      deidentified=tuple(json.loads(row.deidentified or "[]")))


def _score_info(row: UploadScore, run_name: str) -> StoredScore:
    return StoredScore(row.id, row.upload_id, row.run_id, run_name, row.probability,
                       row.predicted_label, row.threshold, row.cam_path, row.inference_ms,
                       row.created_at, row.typicality, row.outside_population, bool(row.forced),
                       row.from_production)


def find_upload(sha256: str) -> StoredUpload | None:
    with session_scope() as session:
        row = session.scalar(select(Upload).where(Upload.sha256 == sha256))
        return _upload_info(row) if row else None


def get_upload(upload_id: int) -> StoredUpload | None:
    with session_scope() as session:
        row = session.get(Upload, upload_id)
        return _upload_info(row) if row else None


def _provenance(stored_by: StoredBy) -> dict:
    removed = stored_by.deidentified
    return {"uploaded_by_id": stored_by.actor.user_id,
            "uploaded_by": stored_by.actor.name[:UPLOADED_BY_CHARS],
            "deidentified": json.dumps(removed) if removed is not None else None}


def record_scores(sha256: str, stored_path: str, file_format: str, size_bytes: int,
                  scores: Sequence[ScoreToStore], cam_paths: Sequence[str],
                  input_check: str | None = None, stored_by: StoredBy | None = None,
                  ) -> ScoredUpload:
    """Add the upload (unless its hash is known) and its scores in one transaction.

    `sha256`, `file_format` and `size_bytes` describe the stored file (no name: the uploaded
    one is never stored); `cam_paths` are the scores' overlays, in order. Returns the upload
    and the new scores, in order. When the hash is already known, the
    existing row (and its stored file) is reused and `stored_path` is ignored. `input_check` is
    the failed input check that forced scores overrode (None when the file passed).
    `stored_by` names who uploads (recorded on a new row and in the audit).
    """
    stored_by = stored_by or StoredBy(Actor("unknown"))
    for attempt in range(2):
        try:
            with session_scope(write=True) as session:
                upload = session.scalar(select(Upload).where(Upload.sha256 == sha256))
                if upload is None:
                    upload = Upload(sha256=sha256, stored_path=stored_path,
                                    file_format=file_format, size_bytes=size_bytes,
                                    **_provenance(stored_by))
                    session.add(upload)
                    session.flush()
                if input_check and not upload.input_check:
                    upload.input_check = input_check
                rows = _score_rows(upload.id, scores, cam_paths, input_check is not None,
                                   production_run_id(session))
                session.add_all(rows)
                session.flush()
                add_event(session, stored_by.actor, "uploaded", f"upload {upload.id}",
                          f"{file_format}, {len(rows)} score(s)")
                names = dict(session.execute(select(Run.id, Run.name).where(
                    Run.id.in_({row.run_id for row in rows}))).all())
                return ScoredUpload(_upload_info(upload), tuple(
                    _score_info(row, names[row.run_id]) for row in rows))
        except IntegrityError:
            # Another process stored the same file between our read and insert: reuse it.
            if attempt:
                raise
    raise AssertionError("unreachable")


def _score_rows(upload_id: int, scores: Sequence[ScoreToStore], cam_paths: Sequence[str],
                forced: bool, production: int | None) -> list[UploadScore]:
    return [UploadScore(upload_id=upload_id, run_id=score.run_id, probability=score.probability,
                        predicted_label=score.predicted_label, threshold=score.threshold,
                        cam_path=cam_path, inference_ms=score.inference_ms,
                        typicality=score.typicality,
                        outside_population=score.outside_population, forced=forced,
                        from_production=score.run_id == production)
            for score, cam_path in zip(scores, cam_paths, strict=True)]


def set_true_label(upload_id: int, label: int | None, labelled_by: str | Actor) -> StoredUpload:
    """Record (or clear, with None) an analyst's true label for an upload, and audit it."""
    if label not in (0, 1, None):
        raise ValueError(f"label must be 0 (NORMAL), 1 (PNEUMONIA) or None, not {label!r}")
    actor = labelled_by if isinstance(labelled_by, Actor) else Actor(labelled_by)
    with session_scope(write=True) as session:
        upload = session.get(Upload, upload_id)
        if upload is None:
            raise LookupError(f"upload {upload_id} does not exist")
        add_event(session, actor, "labelled upload", f"upload {upload_id}",
                  f"true label {_label_name(upload.true_label)} -> {_label_name(label)}")
        upload.true_label = label
        upload.labelled_by = actor.name[:LABELLED_BY_CHARS] if label is not None else None
        upload.labelled_at = utcnow() if label is not None else None
        session.flush()
        return _upload_info(upload)


def _label_name(label: int | None) -> str:
    return "unknown" if label is None else LABEL_NAMES[label]


def upload_history(limit: int = 200) -> list[ScoredUpload]:
    """The newest uploads with the latest score of each run, newest upload first."""
    with session_scope() as session:
        uploads = [_upload_info(row) for row in session.scalars(
            select(Upload).order_by(Upload.id.desc()).limit(limit))]
        if not uploads:
            return []
        newest = (select(func.max(UploadScore.id))
                  .where(UploadScore.upload_id.in_([u.id for u in uploads]))
                  .group_by(UploadScore.upload_id, UploadScore.run_id))
        rows = session.execute(
            select(UploadScore, Run.name).join(Run, Run.id == UploadScore.run_id)
            .where(UploadScore.id.in_(newest)).order_by(UploadScore.run_id)).all()
        scores: dict[int, list[StoredScore]] = {}
        for score, name in rows:
            scores.setdefault(score.upload_id, []).append(_score_info(score, name))
    return [ScoredUpload(upload, tuple(scores.get(upload.id, ()))) for upload in uploads]


@dataclass(frozen=True)
class UploadsDataset:
    """The labelled uploads registered as a dataset."""

    dataset_id: int
    labelled: int  # images with a true label


def sync_uploads_dataset(root: str) -> UploadsDataset:
    """Register the labelled uploads as a dataset rooted at `root` (the uploads folder).

    Each labelled upload becomes one image (its own patient) with its true label; an upload
    whose label was cleared is marked skipped.
    """
    with session_scope(write=True) as session:
        dataset = session.scalar(select(Dataset).where(Dataset.root == root))
        if dataset is None:
            dataset = Dataset(name=UPLOADS_DATASET_NAME, root=root)
            session.add(dataset)
        dataset.ingested_at = utcnow()
        session.flush()
        images = {row.sha256: row for row in session.scalars(
            select(Image).where(Image.dataset_id == dataset.id))}
        uploads = session.scalars(select(Upload)).all()
        labelled = 0
        for upload in uploads:
            row = images.pop(upload.sha256, None)
            if upload.true_label is None:
                if row is not None:
                    row.status, row.skip_reason = "skipped", "no true label"
                continue
            if row is None:
                row = Image(dataset_id=dataset.id, sha256=upload.sha256)
                session.add(row)
            # Stored paths are "uploads/<name>"; the dataset root is the uploads folder.
            row.rel_path = upload.stored_path.split("/", 1)[-1]
            row.label = upload.true_label
            row.source_folder = ""
            row.patient_id = f"upload-{upload.id}"
            row.status, row.skip_reason = "ok", None
            labelled += 1
        if images:  # uploads deleted since the last sync
            session.execute(delete(Image).where(Image.id.in_([r.id for r in images.values()])))
        return UploadsDataset(dataset.id, labelled)


def upload_score_cam_path(upload_score_id: int) -> str | None:
    with session_scope() as session:
        return session.scalar(select(UploadScore.cam_path)
                              .where(UploadScore.id == upload_score_id))
