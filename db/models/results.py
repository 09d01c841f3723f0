"""Datasets, images, splits, runs, epochs, evaluations and predictions: what a run produces."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.models.base import FIXED_THRESHOLD_RULE, Base, utcnow


class Dataset(Base):
    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    root: Mapped[str] = mapped_column(Text, unique=True)
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    has_official_test: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    ingested_at: Mapped[datetime | None] = mapped_column(DateTime)

    images: Mapped[list[Image]] = relationship(back_populates="dataset")


class Image(Base):
    __tablename__ = "images"
    __table_args__ = (
        UniqueConstraint("dataset_id", "rel_path", name="uq_images_dataset_id_rel_path"),
        Index("ix_images_dataset_status", "dataset_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    rel_path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    label: Mapped[int] = mapped_column(Integer)  # an index into LABEL_NAMES
    source_folder: Mapped[str] = mapped_column(String(20))  # train / val / test / "" (flat root)
    patient_id: Mapped[str] = mapped_column(String(100), index=True)
    subtype: Mapped[str | None] = mapped_column(String(20))  # bacteria / virus / None
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), default="ok")  # ok / skipped
    skip_reason: Mapped[str | None] = mapped_column(Text)
    # Synthetic data only: path (relative to the dataset root) of the true lesion mask.
    lesion_mask_path: Mapped[str | None] = mapped_column(Text)
    # The file's resolved path at ingest (symlinks followed): what the dashboard may serve.
    real_path: Mapped[str | None] = mapped_column(Text)

    dataset: Mapped[Dataset] = relationship(back_populates="images")


class Split(Base):
    """One deterministic patient-level split of a dataset (header row)."""

    __tablename__ = "splits"
    __table_args__ = (
        UniqueConstraint(
            "dataset_id", "seed", "val_fraction", "test_fraction", name="uq_splits_params"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    seed: Mapped[int] = mapped_column(Integer)
    val_fraction: Mapped[float] = mapped_column(Float)
    test_fraction: Mapped[float] = mapped_column(Float)  # 0 when the root has an official test/
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class SplitAssignment(Base):
    __tablename__ = "split_assignments"
    __table_args__ = (Index("ix_split_assignments_split_subset", "split_id", "subset"),)

    split_id: Mapped[int] = mapped_column(
        ForeignKey("splits.id", ondelete="CASCADE"), primary_key=True
    )
    image_id: Mapped[int] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    subset: Mapped[str] = mapped_column(String(10))


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    arch: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    config: Mapped[dict] = mapped_column(JSON, default=dict)
    seed: Mapped[int] = mapped_column(Integer)
    device: Mapped[str] = mapped_column(String(50))
    code_version: Mapped[str] = mapped_column(String(80))
    dataset_id: Mapped[int | None] = mapped_column(
        ForeignKey("datasets.id", ondelete="SET NULL")
    )
    split_id: Mapped[int | None] = mapped_column(ForeignKey("splits.id", ondelete="SET NULL"))
    hostname: Mapped[str | None] = mapped_column(String(200))
    pid: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    train_seconds: Mapped[float | None] = mapped_column(Float)
    best_epoch: Mapped[int | None] = mapped_column(Integer)
    # Checkpoint paths are relative to the artifacts root.
    checkpoint_path: Mapped[str | None] = mapped_column(Text)
    last_checkpoint_path: Mapped[str | None] = mapped_column(Text)
    # Operating threshold on P(pneumonia), chosen on val by this rule (e.g. "youden").
    threshold: Mapped[float] = mapped_column(Float, default=0.5)
    threshold_rule: Mapped[str] = mapped_column(String(100), default=FIXED_THRESHOLD_RULE)
    # Calibration, used everywhere: P = sigmoid((logit - logit_offset) / temperature). The offset
    # undoes the prior shift of the class-weighted loss (log of the positive-class weight); the
    # temperature is then fitted on val.
    temperature: Mapped[float] = mapped_column(Float, default=1.0, server_default="1.0")
    logit_offset: Mapped[float] = mapped_column(Float, default=0.0, server_default="0.0")
    # Set when training finished but the model is suspect (e.g. constant val predictions).
    health_warning: Mapped[str | None] = mapped_column(Text)
    # Outside-the-training-population detector, fitted at the end of training: its statistics
    # (relative to the artifacts root) and the score above which an image is flagged (the
    # 99th percentile on val).
    typicality_path: Mapped[str | None] = mapped_column(Text)
    typicality_threshold: Mapped[float | None] = mapped_column(Float)
    # Set by `cxr adapt` (engine/evaluation/adaptation.py): the run this one was adapted from and
    # the new site's dataset whose unlabelled images re-estimated its BatchNorm statistics
    # (transductive: shown as such wherever the run is listed).
    adapted_from_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"))
    adapted_on_dataset_id: Mapped[int | None] = mapped_column(
        ForeignKey("datasets.id", ondelete="SET NULL"))


class Epoch(Base):
    __tablename__ = "epochs"
    __table_args__ = (UniqueConstraint("run_id", "epoch", name="uq_epochs_run_id_epoch"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    epoch: Mapped[int] = mapped_column(Integer)
    train_loss: Mapped[float] = mapped_column(Float)
    val_loss: Mapped[float] = mapped_column(Float)
    val_accuracy: Mapped[float] = mapped_column(Float)
    val_auc: Mapped[float | None] = mapped_column(Float)
    learning_rate: Mapped[float] = mapped_column(Float)
    seconds: Mapped[float] = mapped_column(Float)
    images_per_second: Mapped[float] = mapped_column(Float)
    steps: Mapped[int | None] = mapped_column(Integer)  # optimiser steps taken in this epoch


class Evaluation(Base):
    """One pass of a run over one split (or an external folder)."""

    __tablename__ = "evaluations"
    __table_args__ = (Index("ix_evaluations_run_split", "run_id", "split"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    split: Mapped[str] = mapped_column(String(20))  # val / test / external / val-shift
    # Robustness check: the acquisition shift applied to val (split "val-shift"), else NULL.
    shift: Mapped[str | None] = mapped_column(String(40))
    dataset_id: Mapped[int | None] = mapped_column(
        ForeignKey("datasets.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(20), default="running")
    failure_reason: Mapped[str | None] = mapped_column(Text)
    n_images: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    roc_curve: Mapped[dict | None] = mapped_column(JSON)  # {"fpr": [...], "tpr": [...], ...}
    attention_seconds: Mapped[float | None] = mapped_column(Float)
    ece_uncalibrated: Mapped[float | None] = mapped_column(Float)  # before temperature scaling
    # Pre-aggregated attention metrics per correct/wrong group (db/attention.py), written with the
    # predictions, so the Runs table never rescans millions of prediction rows.
    attention: Mapped[list | None] = mapped_column(JSON)
    # Share of this evaluation's images flagged as outside the training population.
    outside_share: Mapped[float | None] = mapped_column(Float)
    # How far this evaluation's P(pneumonia) sits from the run's val (db/shift.py): population
    # stability index and the Kolmogorov-Smirnov statistic; NULL for val itself.
    drift_psi: Mapped[float | None] = mapped_column(Float)
    drift_ks: Mapped[float | None] = mapped_column(Float)


class Prediction(Base):
    __tablename__ = "predictions"
    __table_args__ = (
        UniqueConstraint("evaluation_id", "image_id", name="uq_predictions_evaluation_image"),
        # Drill-down and threshold recompute read one evaluation ordered by probability.
        Index("ix_predictions_eval_label_prob", "evaluation_id", "true_label", "probability"),
        Index("ix_predictions_image", "image_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(
        ForeignKey("evaluations.id", ondelete="CASCADE")
    )
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    probability: Mapped[float] = mapped_column(Float)  # P(pneumonia)
    predicted_label: Mapped[int] = mapped_column(Integer)
    true_label: Mapped[int] = mapped_column(Integer)
    correct: Mapped[bool] = mapped_column(Boolean)
    cam_path: Mapped[str | None] = mapped_column(Text)  # overlay PNG, relative to artifacts
    cam_raw_path: Mapped[str | None] = mapped_column(Text)  # raw CAM (.npy), relative
    # Where the model looked (engine/explain/attention.py), computed in the same pass as the CAM.
    border_share: Mapped[float | None] = mapped_column(Float)
    lung_share: Mapped[float | None] = mapped_column(Float)
    # The outline of the lung mask lung_share was measured against (engine/explain/lungmask.py):
    # {"height", "width", "polygons": [[x0, y0, x1, y1, ...], ...]}; the dashboard draws it.
    lung_outline: Mapped[dict | None] = mapped_column(JSON)
    peak_in_lung: Mapped[bool | None] = mapped_column(Boolean)
    lesion_share: Mapped[float | None] = mapped_column(Float)  # synthetic data only
    lesion_hit: Mapped[bool | None] = mapped_column(Boolean)  # synthetic data only
    road_score: Mapped[float | None] = mapped_column(Float)  # sampled ROAD pass only
    typicality: Mapped[float | None] = mapped_column(Float)  # distance to the training images
    outside_population: Mapped[bool | None] = mapped_column(Boolean)


class RunMetric(Base):
    """Metrics of one evaluation at one threshold rule (wide, typed columns)."""

    __tablename__ = "run_metrics"
    __table_args__ = (
        UniqueConstraint("evaluation_id", "threshold_rule", name="uq_run_metrics_eval_rule"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(
        ForeignKey("evaluations.id", ondelete="CASCADE"), index=True
    )
    # The rule whose threshold these metrics are at: FIXED_THRESHOLD_RULE, or the run's own
    # threshold_rule (its operating point).
    threshold_rule: Mapped[str] = mapped_column(String(50))
    threshold: Mapped[float] = mapped_column(Float)
    accuracy: Mapped[float] = mapped_column(Float)
    precision: Mapped[float] = mapped_column(Float)
    sensitivity: Mapped[float] = mapped_column(Float)
    specificity: Mapped[float] = mapped_column(Float)
    f1: Mapped[float] = mapped_column(Float)
    roc_auc: Mapped[float | None] = mapped_column(Float)
    pr_auc: Mapped[float | None] = mapped_column(Float)
    brier: Mapped[float] = mapped_column(Float)
    ece: Mapped[float] = mapped_column(Float)
    tn: Mapped[int] = mapped_column(Integer)
    fp: Mapped[int] = mapped_column(Integer)
    fn: Mapped[int] = mapped_column(Integer)
    tp: Mapped[int] = mapped_column(Integer)
