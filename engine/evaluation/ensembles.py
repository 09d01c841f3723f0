"""Ensembles as first-class runs: stored, evaluated, explained and shown like any run.

`create_ensemble` records a run of arch "ensemble" whose config names its members. It combines
the members' calibrated probabilities, by their mean ("prob") or by the mean of their logits
("logit"), and calibrates the combination on val with a temperature and a logit offset of its
own (Platt scaling, kept where it lowers val ECE): a mean of calibrated probabilities is not
itself calibrated (one member confident, one flat gave val ECE 0.26 against 0.07 and 0.08 for
the members, uncorrected). Its Grad-CAM is the mean of the members' CAMs; its operating
threshold is chosen on val like any run's.
"""

from __future__ import annotations

import numpy as np
import torch

from db import runs
from db.splits import split_images
from engine.data.pixels import load_store
from engine.errors import UserError
from engine.evaluation.calibration import choose_calibration, logit
from engine.evaluation.evaluate import evaluate_derived_run
from engine.evaluation.health import constant_predictions_warning
from engine.evaluation.thresholds import choose_threshold
from engine.inference.predictor import ENSEMBLE_ARCH, EnsemblePredictor, require_checkpoint
from engine.provenance import code_version
from engine.training.devices import resolve_device

COMBINE_MODES = ("prob", "logit")


def _validate(run_ids: list[int], combine: str) -> list[runs.RunInfo]:
    if combine not in COMBINE_MODES:
        raise UserError(f"unknown --combine {combine!r}; use prob or logit")
    if len(set(run_ids)) < 2:
        raise UserError("an ensemble needs at least two different runs")
    members = [runs.get_run(run_id) for run_id in run_ids]
    for member in members:
        require_checkpoint(member, "be an ensemble member")
        if member.status != "completed":
            raise UserError(f"run {member.id} is {member.status}; ensemble completed runs only")
        if member.arch == ENSEMBLE_ARCH:
            raise UserError(f"run {member.id} is itself an ensemble; list its members instead")
    if len({member.split_id for member in members}) != 1:
        raise UserError("ensemble members must share one patient split (same dataset and "
                        "--split-seed); otherwise val and test would leak between members")
    return members


def create_ensemble(run_ids: list[int], name: str | None = None, combine: str = "prob",
                    threshold_rule: str = "youden", batch_size: int = 64,
                    device: str | None = None) -> int:
    """Record, calibrate and evaluate an ensemble; its members run on `device` (None: auto)."""
    members = _validate(run_ids, combine)
    resolved = resolve_device(device)  # a UserError here leaves no run row behind
    size = max(int(member.config["image_size"]) for member in members)
    config = {"arch": ENSEMBLE_ARCH, "members": list(run_ids), "combine": combine,
              "image_size": size, "threshold_rule": threshold_rule, "epochs": 0,
              "member_archs": [member.arch for member in members]}
    run_id = runs.create_run(
        name or "ensemble-" + "+".join(str(run_id) for run_id in run_ids), ENSEMBLE_ARCH,
        config, seed=members[0].seed, device=str(resolved), dataset_id=members[0].dataset_id,
        split_id=members[0].split_id, code_version=code_version())
    evaluate_derived_run(
        run_id, members[0].split_id,
        lambda: _calibrate(run_id, members[0].split_id, threshold_rule, batch_size, resolved),
        batch_size, resolved)
    return run_id


def _calibrate(run_id: int, split_id: int, threshold_rule: str, batch_size: int,
               device: torch.device | None = None) -> None:
    run = runs.get_run(run_id)
    images = split_images(split_id, "val")
    predictor = EnsemblePredictor(run, device)
    try:
        store, failures = load_store([image.path for image in images], predictor.size)
        failed = {index for index, _ in failures}
        kept = [i for i in range(len(images)) if i not in failed]
        probability = np.concatenate([predictor.explain(store[kept[i:i + batch_size]])[0]
                                      for i in range(0, len(kept), batch_size)])
    finally:
        predictor.close()
    labels = np.array([images[i].label for i in kept])
    # The run is fresh (temperature 1, offset 0): this is the uncalibrated combination.
    logits = logit(probability)
    calibration = choose_calibration(logits, labels)
    probability = calibration.apply(logits)
    threshold, rule = choose_threshold(threshold_rule, labels, probability)
    runs.update_run(run_id, temperature=calibration.temperature,
                       logit_offset=calibration.offset, threshold=threshold,
                       threshold_rule=rule, train_seconds=0.0,
                       health_warning=constant_predictions_warning(logits, labels))
