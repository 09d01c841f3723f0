"""Reviews, uploads and their scores, users, sign-in failures and the audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import Base, utcnow

REVIEW_VERDICTS = ("label error", "model error", "ambiguous", "correct")


class Review(Base):
    """An analyst's verdict on one image, optionally in the context of one run."""

    __tablename__ = "reviews"
    __table_args__ = (Index("ix_reviews_image_created", "image_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    verdict: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    reviewer: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # The signed-in user who saved it (NULL for reviews from before sign-in existed).
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Upload(Base):
    """A file uploaded for live scoring, stored under a generated name without its metadata,
    deduplicated by the hash of what is stored. The uploaded file name is never stored."""

    __tablename__ = "uploads"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)  # of the stored file
    # Relative to the artifacts root; a generated name, never the uploaded one.
    stored_path: Mapped[str] = mapped_column(Text)
    # What is stored: PNG (a JPEG's or PNG's pixels) or DICOM (de-identified); JPEG before 0013.
    file_format: Mapped[str] = mapped_column(String(20))
    size_bytes: Mapped[int] = mapped_column(Integer)  # of the stored file
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    true_label: Mapped[int | None] = mapped_column(Integer)
    labelled_by: Mapped[str | None] = mapped_column(String(100))
    labelled_at: Mapped[datetime | None] = mapped_column(DateTime)
    # The input check this file failed (e.g. "Modality MR is not a radiograph"), when the user
    # forced scoring past it; NULL when it passed.
    input_check: Mapped[str | None] = mapped_column(Text)
    # Who stored it: the signed-in user's id (NULL from `cxr score`), and by name or
    # "cli:<login>".
    uploaded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))
    uploaded_by: Mapped[str | None] = mapped_column(String(120))
    # DICOM only: the attributes de-identification removed or replaced (JSON list of strings).
    deidentified: Mapped[str | None] = mapped_column(Text)


class UploadScore(Base):
    __tablename__ = "upload_scores"
    __table_args__ = (Index("ix_upload_scores_upload_run", "upload_id", "run_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    upload_id: Mapped[int] = mapped_column(ForeignKey("uploads.id", ondelete="CASCADE"))
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    probability: Mapped[float] = mapped_column(Float)
    predicted_label: Mapped[int] = mapped_column(Integer)
    threshold: Mapped[float] = mapped_column(Float)
    cam_path: Mapped[str | None] = mapped_column(Text)  # relative to the artifacts root
    inference_ms: Mapped[float] = mapped_column(Float)
    typicality: Mapped[float | None] = mapped_column(Float)
    outside_population: Mapped[bool | None] = mapped_column(Boolean)
    forced: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Whether the run held the `production` alias when this score was stored: what the product
    # answered then. NULL for scores stored before aliases existed.
    from_production: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


USER_ROLES = ("viewer", "reviewer", "uploader", "admin")  # each can do what the ones before can


class User(Base):
    """Someone who signs in to the dashboard. Never deleted (the audit names them): disabled."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))  # werkzeug scrypt, salted
    role: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # Part of every session of this user: raised by sign-out, disable, enable, a role change
    # and a password reset, so every session made before stops loading.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class SignInFailure(Base):
    """Failed sign-ins per name tried, known or not: the back-off every server worker shares."""

    __tablename__ = "sign_in_failures"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failed_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class AuditEvent(Base):
    """Who did what, when: image details viewed, uploads, reviews, sign-ins, user changes."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_created", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # A user name, or "cli:<login>" for a command run on the database directly; kept as text so
    # the record outlives renames and stays readable without the users table.
    actor: Mapped[str] = mapped_column(String(120))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(40), index=True)
    target: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[str | None] = mapped_column(Text)
