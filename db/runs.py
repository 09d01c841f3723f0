"""The runs aggregate: a run's lifecycle, its epochs, and `RunInfo`, the one run entity callers get.

The Runs table (many runs with their metrics, for the page and `cxr runs`) is db/run_table.py.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Select, func, or_, select

from db.errors import UserError
from db.models import EXTERNAL_ARCH, Dataset, Epoch, Evaluation, Run, utcnow
from db.session import session_scope

if TYPE_CHECKING:  # pandas costs about 0.4 s to import; only epochs_for needs it
    import pandas as pd

# engine.inference.predictor.ENSEMBLE_ARCH (db/ does not import the engine)
ENSEMBLE_ARCH = "ensemble"
# Splits the val/test views read. Robustness checks ("val-shift") are evaluations too, but they
# score val under an artificial shift: they must never stand in for a run's val or test.
CLEAN_SPLITS = ("val", "test", "external")


@dataclass(frozen=True)
class RunInfo:
    """One run as every caller sees it: the engine (checkpoints, calibration), the pickers and
    the Score page (name, arch, threshold, dataset)."""

    id: int
    name: str
    arch: str
    status: str
    config: dict
    seed: int
    dataset_id: int | None
    split_id: int | None
    checkpoint_path: str | None
    last_checkpoint_path: str | None
    threshold: float
    threshold_rule: str
    temperature: float = 1.0
    logit_offset: float = 0.0
    # relative to the artifacts root (engine/evaluation/typicality.py)
    typicality_path: str | None = None
    dataset: str | None = None  # the dataset's name
    synthetic: bool = False
    # Set for a run made by `cxr adapt`: it has seen its new site's images (transductive).
    adapted_from_run_id: int | None = None

    @property
    def transductive(self) -> bool:
        return self.adapted_from_run_id is not None

    @property
    def label(self) -> str:
        marker = ", adapted: transductive" if self.transductive else ""
        if self.config.get("calibrated_on"):  # `cxr calibrate` (db/site_calibration.py)
            marker = f", calibrated on {self.config['calibrated_on']}"
        return f"#{self.id} {self.name} ({self.arch}{marker})"

    @property
    def is_ensemble(self) -> bool:
        return self.arch == ENSEMBLE_ARCH

    @property
    def is_external(self) -> bool:
        """Imported predictions of a model trained elsewhere: no checkpoint, no Grad-CAM."""
        return self.arch == EXTERNAL_ARCH


def _run_query() -> Select:
    return (select(Run, Dataset.name, Dataset.synthetic)
            .outerjoin(Dataset, Dataset.id == Run.dataset_id))


def _run_info(run: Run, dataset: str | None, synthetic: bool | None) -> RunInfo:
    return RunInfo(run.id, run.name, run.arch, run.status, dict(run.config or {}), run.seed,
                   run.dataset_id, run.split_id, run.checkpoint_path, run.last_checkpoint_path,
                   run.threshold, run.threshold_rule, run.temperature, run.logit_offset,
                   run.typicality_path, dataset, bool(synthetic), run.adapted_from_run_id)


def _run_infos(query: Select) -> list[RunInfo]:
    with session_scope() as session:
        return [_run_info(*row) for row in session.execute(query).all()]


def create_run(name: str, arch: str, config: dict, seed: int, device: str,
               dataset_id: int, split_id: int, *, code_version: str) -> int:
    with session_scope(write=True) as session:
        run = Run(name=name, arch=arch, config=config, seed=seed, device=device,
                  code_version=code_version, dataset_id=dataset_id, split_id=split_id,
                  status="queued")
        session.add(run)
        session.flush()
        return run.id


def find_run(run_id: int) -> RunInfo | None:
    found = _run_infos(_run_query().where(Run.id == run_id))
    return found[0] if found else None


def get_run(run_id: int) -> RunInfo:
    run = find_run(run_id)
    if run is None:
        raise UserError(f"run {run_id} does not exist; `cxr runs` lists the runs")
    return run


def run_summaries(only_evaluated: bool = True) -> list[RunInfo]:
    """Runs for pickers, newest first; by default only runs with a completed evaluation."""
    query = _run_query().order_by(Run.id.desc())
    if only_evaluated:
        evaluated = select(Evaluation.run_id).where(Evaluation.status == "completed",
                                                    Evaluation.split.in_(CLEAN_SPLITS))
        query = query.where(Run.id.in_(evaluated))
    return _run_infos(query)


def completed_runs(run_ids: list[int] | None = None) -> list[RunInfo]:
    """Scorable runs in id order (optionally only `run_ids`): completed runs with a checkpoint,
    and completed ensembles (their members' checkpoints score for them)."""
    query = _run_query().where(
        Run.status == "completed",
        or_(Run.checkpoint_path.is_not(None), Run.arch == ENSEMBLE_ARCH)).order_by(Run.id)
    if run_ids is not None:
        query = query.where(Run.id.in_(run_ids))
    return _run_infos(query)


def latest_evaluation_ids(run_ids: list[int] | None = None) -> dict[tuple[int, str], int]:
    """(run_id, split) -> id of the newest completed evaluation of that split."""
    query = select(Evaluation.run_id, Evaluation.split, Evaluation.id).where(
        Evaluation.status == "completed", Evaluation.split.in_(CLEAN_SPLITS))
    if run_ids is not None:
        query = query.where(Evaluation.run_id.in_(run_ids))
    with session_scope() as session:
        rows = session.execute(query.order_by(Evaluation.id)).all()
    return {(row.run_id, row.split): row.id for row in rows}


def count_runs() -> int:
    with session_scope() as session:
        return int(session.scalar(select(func.count(Run.id))) or 0)


def mark_running(run_id: int) -> None:
    with session_scope(write=True) as session:
        run = session.get(Run, run_id)
        run.status = "running"
        run.failure_reason = None
        run.finished_at = None
        run.started_at = run.started_at or utcnow()
        run.pid = os.getpid()
        run.hostname = socket.gethostname()


def update_run(run_id: int, **fields: object) -> None:
    with session_scope(write=True) as session:
        run = session.get(Run, run_id)
        for key, value in fields.items():
            setattr(run, key, value)


def finish_run(run_id: int, status: str, reason: str | None = None) -> None:
    update_run(run_id, status=status, failure_reason=reason, finished_at=utcnow())


def record_epoch(run_id: int, **values: float) -> None:
    with session_scope(write=True) as session:
        existing = session.scalar(select(Epoch).where(Epoch.run_id == run_id,
                                                      Epoch.epoch == values["epoch"]))
        row = existing or Epoch(run_id=run_id)
        for key, value in values.items():
            setattr(row, key, value)
        session.add(row)


def run_steps(run_id: int) -> int | None:
    """Optimiser steps over the run's epochs; None when an epoch did not record its steps."""
    with session_scope() as session:
        epochs, counted, steps = session.execute(
            select(func.count(Epoch.id), func.count(Epoch.steps),
                   func.coalesce(func.sum(Epoch.steps), 0)).where(Epoch.run_id == run_id)).one()
    return None if counted < epochs else int(steps)


def epochs_for(run_ids: list[int]) -> pd.DataFrame:
    columns = ["run_id", "epoch", "train_loss", "val_loss", "val_accuracy", "val_auc"]
    query = (select(Epoch.run_id, Epoch.epoch, Epoch.train_loss, Epoch.val_loss,
                    Epoch.val_accuracy, Epoch.val_auc)
             .where(Epoch.run_id.in_(run_ids)).order_by(Epoch.run_id, Epoch.epoch))
    with session_scope() as session:
        import pandas as pd

        return pd.DataFrame(session.execute(query).all(), columns=columns)


def rerun_advice(run_id: int, config: dict) -> str | None:
    """What to run again for a run another command made; None for a `cxr train` run
    (the only kind `cxr train --resume` can pick up)."""
    if config.get("origin") == "crossval":
        return "a crossval run cannot be resumed; run `cxr crossval --data DIR ...` again"
    for key, command in (("calibrated_from", "cxr calibrate {} --data SITE_SAMPLE"),
                         ("adapted_from", "cxr adapt {} --data NEW_SITE_DIR")):
        if key in config:
            return (f"a {command.split()[1]} run cannot be resumed; run "
                    f"`{command.format(config[key])}` again")
    if config.get("arch") in (ENSEMBLE_ARCH, EXTERNAL_ARCH) or "origin" in config:
        return "this run was not made by `cxr train` and cannot be resumed; make it again"
    return None
