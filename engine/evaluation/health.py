"""Run health: a run must have trained, and its val predictions must tell images apart.

Training drops the ragged last batch (BatchNorm cannot normalise a batch of one image), so a
train split smaller than one batch would take no optimiser step at all: such a run fails before
training, naming the image count and the batch size, and a run that took no step is never
marked completed. A run whose val predictions are (nearly) constant (efficientnet_b0 after a
short run on few images: its BatchNorm statistics make every image's features collapse in eval
mode) is completed but flagged in runs.health_warning, printed at the end of training and shown
as a badge on the Runs page and in `cxr runs`.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score
from tqdm import tqdm

from db import runs
from db.models import LABEL_NAMES
from engine.errors import UserError

# Constant predictions: the middle 90% of the val images' raw logits spans less than
# COLLAPSED_SPREAD (one logit for every image: efficientnet_b0's collapse), or less than
# NARROW_SPREAD (0.01 in probability around 0.5) while val AUC is below NARROW_MIN_AUC. Raw
# logits, not calibrated probabilities, and the ranking too: early in training a working model
# can have tiny logits that still rank val well (a small CNN at val AUC 0.99 spanned 0.03).
COLLAPSED_SPREAD = 1e-3
NARROW_SPREAD = 0.04
NARROW_MIN_AUC = 0.6
CONSTANT_TAG = "constant predictions"  # the warning's first words, shown as its badge
# A train split with fewer images of a class than this trains, but is flagged: the model has
# seen too few examples of that class for its scores on it to mean much.
MIN_CLASS_IMAGES = 20
FEW_TAG = "few training images of a class"


def batches_per_epoch(n_images: int, batch_size: int) -> int:
    """Full batches in an epoch; UserError when the train split cannot fill even one."""
    if n_images >= batch_size:
        return n_images // batch_size
    fix = (f"pass --batch-size {n_images} or less, or add images" if n_images >= 2
           else "add images")
    raise UserError(f"the train split has {n_images} image(s), fewer than one batch of "
                    f"{batch_size} (--batch-size): no optimiser step could run; {fix}")


def constant_predictions_warning(logits: np.ndarray, labels: np.ndarray) -> str | None:
    """A warning when the val images' raw logits are (nearly) all the same, else None."""
    logits = np.asarray(logits, dtype=float)
    if len(logits) < 2:
        return None
    low, high = np.percentile(logits, [5, 95])
    if high - low >= NARROW_SPREAD:
        return None
    labels = np.asarray(labels)
    auc = roc_auc_score(labels, logits) if len(set(labels.tolist())) == 2 else None
    if high - low >= COLLAPSED_SPREAD and (auc is None or auc >= NARROW_MIN_AUC):
        return None
    auc = "n/a" if auc is None else f"{auc:.3f}"
    return (f"{CONSTANT_TAG}: 90% of the {len(logits)} val images get a raw logit between "
            f"{low:.4f} and {high:.4f} (val AUC {auc}), so the model does not tell them "
            "apart; train longer or on more images, or try another --arch or --pretrained")


def _counts_text(counts: dict[int, int]) -> str:
    return ", ".join(f"{counts.get(label, 0)} {name}" for label, name in enumerate(LABEL_NAMES))


def require_both_classes(counts: dict[int, int], data: str) -> None:
    """Refuse a train split that lacks a class: the model could never learn to tell them apart
    (a folder holding only NORMAL/ images would train and look completed)."""
    missing = [name for label, name in enumerate(LABEL_NAMES) if not counts.get(label)]
    if missing:
        raise UserError(f"the train split of {data} has {_counts_text(counts)} usable images: "
                        f"no {' and no '.join(missing)} image to learn from; add images of "
                        f"every class ({', '.join(f'{n}/' for n in LABEL_NAMES)})")


def few_images_warning(counts: dict[int, int]) -> str | None:
    """A warning when a class has fewer than MIN_CLASS_IMAGES train images, else None."""
    few = [name for label, name in enumerate(LABEL_NAMES)
           if counts.get(label, 0) < MIN_CLASS_IMAGES]
    if not few:
        return None
    return (f"{FEW_TAG}: the train split has {_counts_text(counts)} images, fewer than "
            f"{MIN_CLASS_IMAGES} {' and '.join(few)}; its scores on that class mean little, "
            "add images")


def review_training(run_id: int, logits: np.ndarray, labels: np.ndarray,
                    train_counts: dict[int, int] | None = None) -> str | None:
    """After training: fail a run that took no optimiser step; flag constant val predictions
    and a class with too few train images.

    Records the warnings (or clears old ones, on resume), prints them and returns them.
    """
    steps = runs.run_steps(run_id)
    if steps == 0:
        raise UserError(f"run {run_id} took no optimiser step in any epoch, so it never "
                        "trained; check the train split's size against --batch-size")
    found = [constant_predictions_warning(logits, labels),
             few_images_warning(train_counts) if train_counts is not None else None]
    warning = "; ".join(text for text in found if text) or None
    runs.update_run(run_id, health_warning=warning)
    if warning:
        tqdm.write(f"warning: run {run_id}: {warning}")
    return warning
