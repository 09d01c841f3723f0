"""`cxr adapt RUN --data NEW_SITE_DIR`: site adaptation by AdaBN (Li et al., 2016).

The new site's images are used unlabelled: every BatchNorm layer's running mean and variance is
re-estimated on them (a cumulative average over one pass, the weights untouched), and, with
`prior=True`, the class prior is re-estimated by EM on the adapted scores (Saerens et al.,
2002) and folded into the logit offset. That assumes the sites differ only in class balance, so
it is refused where too many of the site's images lie outside the source's training population.
The result is a new run, "adapted from RUN on DATASET", with its own checkpoint, calibration on
the source's val, threshold, typicality and Grad-CAMs.
It has seen the images it is then evaluated on, so it is transductive, and is shown as such.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from db import runs
from db import shift as shift_store
from db.session import artifacts_root
from db.splits import dataset_images
from engine.data.discover import dataset_for_root
from engine.data.pixels import load_store, normalize_intensity, readable, to_input
from engine.errors import UserError
from engine.evaluation.calibration import Calibration, choose_calibration, logit
from engine.evaluation.evaluate import evaluate_derived_run
from engine.evaluation.thresholds import choose_threshold
from engine.evaluation.typicality import extract_features, fit_run_typicality, load_run_stats
from engine.inference.predictor import (
    ENSEMBLE_ARCH,
    load_run_model,
    predict_logits,
    require_checkpoint,
)
from engine.provenance import code_version
from engine.training.augmentation import center_crop
from engine.training.devices import resolve_device
from engine.training.loop import checkpoint_dir, save_atomically
from engine.training.train import load_subset

# `--prior` assumes the sites differ only in class balance (label shift). Where more of the new
# site's images than this lie outside the source run's training population, the images differ
# too and the EM estimate is not to be trusted (why: docs/results.md#prior-adaptation).
PRIOR_MAX_OUTSIDE = 0.10


@torch.no_grad()
def reestimate_batchnorm(model: nn.Module, store: torch.Tensor, device: torch.device,
                         batch_size: int = 64) -> int:
    """AdaBN: replace every BatchNorm's running statistics by those of `store`. Returns the
    number of BatchNorm layers re-estimated (0: the model has none, nothing changed)."""
    layers = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    # Only the BatchNorm layers go to training mode: in model.train() EfficientNet's stochastic
    # depth and dropout would also switch on, and the statistics would be those of randomly
    # thinned activations, different at each call.
    model.eval()
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # a cumulative average over the whole pass
        layer.train()
    for start in range(0, len(store), batch_size):
        model(to_input(store[start:start + batch_size]).to(device))
    model.eval()
    return len(layers)


def estimate_prior(probability: np.ndarray, source_prior: float, iterations: int = 100) -> float:
    """The new site's P(pneumonia) by EM over calibrated scores (Saerens et al., 2002)."""
    prior = source_prior
    for _ in range(iterations):
        ratio = prior / source_prior, (1 - prior) / (1 - source_prior)
        posterior = probability * ratio[0] / (probability * ratio[0] + (1 - probability) * ratio[1])
        updated = float(np.clip(posterior.mean(), 1e-3, 1 - 1e-3))
        if abs(updated - prior) < 1e-6:
            break
        prior = updated
    return prior


def _site_store(dataset_id: int, size: int, config: dict) -> torch.Tensor:
    images = dataset_images(dataset_id)
    if not images:
        raise UserError(f"no usable images in dataset {dataset_id} to adapt on")
    paths = [image.path for image in images]
    store, failures = load_store(paths, size)
    keep = readable(paths, failures, "new site's")
    films = normalize_intensity(store[keep], config.get("intensity_norm", "none"))
    return torch.from_numpy(center_crop(films, float(config.get("test_center_crop", 1.0))))


def adapt_run(run_id: int, data_dir: str, prior: bool = False, name: str | None = None,
              batch_size: int = 64, device: str | None = None) -> int:
    """Adapt run `run_id` to the images under `data_dir`; returns the new run's id."""
    source = runs.get_run(run_id)
    require_checkpoint(source, "be adapted (AdaBN re-estimates the model's own BatchNorm)")
    if source.status != "completed" or source.arch == ENSEMBLE_ARCH:
        raise UserError(f"run {run_id} cannot be adapted: adapt a completed, single-model run "
                        f"(it is {source.status}, arch {source.arch})")
    resolved = resolve_device(device)
    dataset_id = dataset_for_root(data_dir)
    site = shift_store.dataset_name(dataset_id)
    site_store = _site_store(dataset_id, int(source.config["image_size"]), source.config)
    if prior:
        _require_label_shift(source, site_store, data_dir, batch_size, resolved)
    config = {**source.config, "adapted_from": run_id, "adapted_on": site, "adapt_prior": prior,
              "transductive": True}
    new_id = runs.create_run(name or f"{source.name} adapted on {site}", source.arch, config,
                             source.seed, str(resolved), source.dataset_id, source.split_id,
                             code_version=code_version())
    shift_store.set_origin(new_id, run_id, dataset_id)
    evaluate_derived_run(
        new_id, source.split_id,
        lambda: _adapt(new_id, source, site_store, prior, batch_size, resolved),
        batch_size, resolved, external_data=data_dir)
    return new_id


def outside_share(source: runs.RunInfo, store: torch.Tensor, device: torch.device,
                  batch_size: int = 64) -> float:
    """The share of `store` outside the source run's training population (its typicality)."""
    stats = load_run_stats(source)
    if stats is None:
        raise UserError(f"run {source.id} has no typicality stats (trained before they "
                        "existed), so --prior cannot check that the new site differs only in "
                        "class balance; adapt without --prior, or retrain the run")
    model = load_run_model(source, device)
    features = extract_features(model, source.arch, store.to(device), device, batch_size)
    return float(np.mean(stats.ratio(features) > 1.0))


def _require_label_shift(source: runs.RunInfo, store: torch.Tensor, data_dir: str,
                         batch_size: int, device: torch.device) -> None:
    share = outside_share(source, store, device, batch_size)
    if share > PRIOR_MAX_OUTSIDE:
        raise UserError(
            f"--prior refused: {share:.0%} of the {len(store)} images in {data_dir} lie outside "
            f"run {source.id}'s training population (the limit is {PRIOR_MAX_OUTSIDE:.0%}). "
            "Re-estimating the class prior assumes the sites differ only in class balance; "
            "these images differ too, so the estimate cannot be trusted. Adapt without --prior.")


def _adapt(new_id: int, source: runs.RunInfo, site_store: torch.Tensor, prior: bool,
           batch_size: int, device: torch.device) -> None:
    """Re-estimate BatchNorm, save the checkpoint, calibrate and threshold on the source's val,
    refit typicality."""
    config, size = source.config, int(source.config["image_size"])
    model = load_run_model(source, device)
    site_store = site_store.to(device)
    if not reestimate_batchnorm(model, site_store, device, batch_size):
        raise UserError(f"run {source.id} ({source.arch}) has no BatchNorm layers to adapt")
    best = checkpoint_dir(new_id) / "best.pt"
    save_atomically(model.state_dict(), best)
    runs.update_run(new_id, checkpoint_path=best.relative_to(artifacts_root()).as_posix(),
                    train_seconds=0.0)
    intensity, keep = config.get("intensity_norm", "none"), config.get("test_center_crop", 1.0)
    val_store, val_labels = load_subset(source.split_id, "val", size, intensity, device, keep)
    labels = val_labels.cpu().numpy()
    logits = predict_logits(model, val_store, device, batch_size, tta=bool(config.get("tta")))
    calibration = (choose_calibration(logits, labels) if config.get("calibrate", True)
                   else Calibration())
    # The threshold is a probability chosen on val; a prior shift then moves the scores of the
    # new site across it (choosing it after the shift would undo the shift on val's ranks).
    threshold, rule = choose_threshold(config.get("threshold_rule", "youden"), labels,
                                       calibration.apply(logits))
    if prior:
        site_logits = predict_logits(model, site_store, device, batch_size,
                                     tta=bool(config.get("tta")))
        val_prior = float(np.clip(labels.mean(), 1e-3, 1 - 1e-3))
        site_prior = estimate_prior(calibration.apply(site_logits), val_prior)
        shift = float(logit(site_prior) - logit(val_prior))
        calibration = Calibration(calibration.offset - shift * calibration.temperature,
                                  calibration.temperature)
        tqdm.write(f"class prior: val {val_prior:.3f}, new site {site_prior:.3f} (EM)")
    runs.update_run(new_id, temperature=calibration.temperature, logit_offset=calibration.offset,
                    threshold=threshold, threshold_rule=rule)
    train_store, _ = load_subset(source.split_id, "train", size, intensity, device)
    fit_run_typicality(new_id, source.arch, model, train_store, val_store, device, batch_size)
