"""`cxr crossval`: out-of-fold probabilities for every training image, to judge its label.

A label can only be judged by a model that never trained on it. The train subset of the run's
patient-level split is cut into K folds by patient (stratified by label, scikit-learn's
StratifiedGroupKFold); fold model k trains on the other K-1 folds, stops early and is calibrated
on the split's val (never on fold k), then predicts and explains fold k through the same
evaluation path as any run. The result is one run of its own (origin `crossval`, no checkpoint
of its own, so it is never scored) whose `oof` evaluation holds one prediction, with its
Grad-CAM from the fold model that held the image out, per training image; cleanlab then ranks
them (engine/evaluation/label_issues.py).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold
from tqdm import tqdm

from db import evaluations, runs
from db.models import FIXED_THRESHOLD_RULE
from db.session import artifacts_root
from db.splits import SplitImage, split_images, subset_label_counts
from engine.data.discover import dataset_for_root
from engine.data.splits import get_or_create_split
from engine.errors import UserError, failure_reason
from engine.evaluation import health
from engine.evaluation.calibration import Calibration, choose_calibration
from engine.evaluation.evaluate import explain_images
from engine.evaluation.label_issues import rank_and_store
from engine.evaluation.metrics import binary_metrics, roc_points
from engine.inference.predictor import predict, predict_logits
from engine.models import create_model
from engine.provenance import code_version
from engine.training import loop as fitting
from engine.training.config import TrainConfig
from engine.training.devices import configure, resolve_device
from engine.training.distributed import SINGLE
from engine.training.train import load_subset, train_one_epoch

ORIGIN = "crossval"
OOF_SPLIT = "oof"  # the evaluation holding one out-of-fold prediction per training image


@dataclass(frozen=True)
class FoldModel:
    """A fold's best checkpoint (relative to the artifacts root) and its calibration on val."""

    fold: int
    checkpoint_path: str
    calibration: Calibration


def assign_folds(images: list[SplitImage], folds: int, seed: int) -> np.ndarray:
    """Fold index per image: patients never straddle folds, labels are spread evenly."""
    if folds < 2:
        raise UserError(f"--folds {folds}: cross-validation needs at least 2 folds")
    labels = np.array([image.label for image in images])
    patients = np.array([image.patient_id for image in images])
    fewest = min(len(set(patients[labels == label])) for label in (0, 1))
    if folds > fewest:
        raise UserError(f"--folds {folds} is more than the {fewest} patients of the rarer class "
                        "in the train split; choose fewer folds")
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    assignment = np.zeros(len(images), dtype=int)
    for fold, (_, held_out) in enumerate(splitter.split(labels, labels, patients)):
        assignment[held_out] = fold
    return assignment


def crossval(config: TrainConfig, folds: int) -> int:
    """Train `folds` fold models, store the out-of-fold evaluation and cleanlab's ranking.
    Returns the crossval run's id."""
    config.validate()
    if not config.data:
        raise UserError("no dataset: pass --data DIR or set CXR_DATA")
    if folds < 2:
        raise UserError(f"--folds {folds}: cross-validation needs at least 2 folds")
    dataset_id = dataset_for_root(config.data)
    split_id = get_or_create_split(dataset_id, config.split_seed)
    health.require_both_classes(subset_label_counts(split_id, "train"), config.data)
    images = split_images(split_id, "train")
    assignment = assign_folds(images, folds, config.seed)
    device = resolve_device(config.device)
    name = config.name or f"crossval {folds}-fold {config.arch}-{config.image_size}px"
    record = {**dataclasses.asdict(config), "origin": ORIGIN, "folds": folds}
    run_id = runs.create_run(name, config.arch, record, config.seed, str(device), dataset_id,
                             split_id, code_version=code_version())
    runs.mark_running(run_id)
    try:
        _crossval(run_id, split_id, images, assignment, config, device)
        runs.finish_run(run_id, "completed")
    except BaseException as exc:
        runs.finish_run(run_id, "failed", failure_reason(exc))
        raise
    return run_id


def _crossval(run_id: int, split_id: int, images: list[SplitImage], assignment: np.ndarray,
              config: TrainConfig, device: torch.device) -> None:
    configure(device, training=True)
    start = time.perf_counter()
    train_store, train_labels = load_subset(split_id, "train", config.image_size,
                                            config.intensity_norm, device)
    if len(train_store) != len(images):
        raise UserError("some training images could not be read; fix or remove them (see the "
                        "warnings above), then run cxr crossval again")
    val_store, val_labels = load_subset(split_id, "val", config.image_size,
                                        config.intensity_norm, device, config.test_center_crop)
    fold_models = []
    for fold in range(int(assignment.max()) + 1):
        tqdm.write(f"fold {fold + 1}/{assignment.max() + 1}: training on "
                   f"{int((assignment != fold).sum())} images, holding out "
                   f"{int((assignment == fold).sum())}")
        keep = torch.from_numpy(assignment != fold).to(train_store.device)
        fold_models.append(_fit_fold(run_id, fold, config, train_store[keep], train_labels[keep],
                                     val_store, val_labels, device))
    runs.update_run(run_id, train_seconds=time.perf_counter() - start)
    evaluation_id = _evaluate_out_of_fold(run_id, images, assignment, fold_models, config,
                                          device)
    rank_and_store(run_id, evaluation_id, {image.image_id: int(fold)
                                           for image, fold in zip(images, assignment,
                                                                  strict=True)})


def _fit_fold(run_id: int, fold: int, config: TrainConfig, train_store: torch.Tensor,
              train_labels: torch.Tensor, val_store: torch.Tensor, val_labels: torch.Tensor,
              device: torch.device) -> FoldModel:
    """Train one fold model, keep its best val-AUC weights, calibrate them on val."""
    torch.manual_seed(config.seed + fold)
    model = create_model(config.arch, config.pretrained, config.weights).to(device)
    loop = fitting.build_loop(run_id, config, model, device, train_labels, SINGLE)
    loop.folder = fitting.checkpoint_dir(run_id) / f"fold-{fold}"
    loop.folder.mkdir(parents=True, exist_ok=True)
    val_np = val_labels.cpu().numpy()
    for epoch in range(1, config.epochs + 1):
        loss, rate = train_one_epoch(loop.trained, train_store, train_labels, loop.optimizer,
                                     loop.scheduler, loop.loss_fn, config, loop.generator,
                                     device, epoch, loop.ema, loop.aug_generator)
        probability = predict(loop.evaluated, val_store, device, config.eval_batch_size)
        score = (float(roc_auc_score(val_np, probability)) if len(set(val_np.tolist())) == 2
                 else float(np.mean((probability >= 0.5) == (val_np == 1))))
        tqdm.write(f"fold {fold + 1} epoch {epoch}/{config.epochs}: loss {loss:.4f}  val "
                   f"AUC {score:.4f}  {rate:.1f} img/s")
        if score > loop.best_score:
            loop.best_score, loop.stale = score, 0
            fitting.save_atomically(loop.evaluated.state_dict(), loop.best_path)
        else:
            loop.stale += 1
        if loop.stale >= config.patience:
            break
    model = loop.evaluated
    model.load_state_dict(torch.load(loop.best_path, map_location=device, weights_only=True))
    logits = predict_logits(model, val_store, device, config.eval_batch_size, tta=config.tta)
    calibration = (choose_calibration(logits, val_np, float(np.log(loop.pos_weight)))
                   if config.calibrate else Calibration())
    return FoldModel(fold, loop.best_path.relative_to(artifacts_root()).as_posix(), calibration)


def _evaluate_out_of_fold(run_id: int, images: list[SplitImage], assignment: np.ndarray,
                          fold_models: list[FoldModel], config: TrainConfig,
                          device: torch.device) -> int:
    """Each fold model predicts and explains the images it held out; one `oof` evaluation."""
    run = runs.get_run(run_id)
    evaluation_id = evaluations.start_evaluation(run_id, OOF_SPLIT, run.dataset_id)
    start = time.perf_counter()
    try:
        rows, attention_seconds = [], 0.0
        for fold_model in fold_models:
            # The fold model as a run: its checkpoint and calibration; 0.5 on the calibrated
            # probability is the crossval run's one operating point.
            fold_run = dataclasses.replace(
                run, checkpoint_path=fold_model.checkpoint_path, threshold=0.5,
                threshold_rule=FIXED_THRESHOLD_RULE, typicality_path=None,
                temperature=fold_model.calibration.temperature,
                logit_offset=fold_model.calibration.offset)
            held_out = [image for image, fold in zip(images, assignment, strict=True)
                        if fold == fold_model.fold]
            # Fold models differ, so their features share no space: no map for `oof`.
            fold_rows, seconds, _features = explain_images(
                fold_run, held_out, evaluation_id, None, config.eval_batch_size, device)
            rows += fold_rows
            attention_seconds += seconds
        _complete(evaluation_id, rows, time.perf_counter() - start, attention_seconds)
    except BaseException as exc:
        evaluations.fail_evaluation(evaluation_id, f"{type(exc).__name__}: {exc}")
        raise
    return evaluation_id


def _complete(evaluation_id: int, rows: list[evaluations.PredictionRow], seconds: float,
              attention_seconds: float) -> None:
    probability = np.array([row.probability for row in rows])
    labels = np.array([row.true_label for row in rows])
    evaluations.complete_evaluation(
        evaluation_id, rows, {FIXED_THRESHOLD_RULE: binary_metrics(labels, probability, 0.5)},
        roc_points(labels, probability), seconds, attention_seconds)

