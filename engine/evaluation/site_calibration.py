"""`cxr calibrate RUN --data SITE_SAMPLE`: a run's operating point refitted on a small labelled
sample of a new site (a local validation, as hospitals do before they use a model).

The result is a new run, "RUN calibrated on SITE", with the source's weights (its checkpoint and
typicality stats are shared, never copied or changed), and the calibration and threshold
refitted on the sample (engine/evaluation/site_fit.py). It is evaluated on the source's val and
test, on the sample itself (marked as the calibration sample: in-sample figures) and, with
`--evaluate DIR`, on the rest of the site's images. The sample's bootstrap intervals of
sensitivity and specificity at the new threshold say how far the operating point can be trusted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch

from db import runs
from db import shift as shift_store
from db.datasets import skip_kind, skipped_files
from db.site_calibration import SiteCalibrationInfo, record_site_calibration
from db.splits import SplitImage, dataset_images, split_images
from engine.data.discover import dataset_for_root
from engine.data.pixels import load_store, normalize_intensity, readable
from engine.errors import UserError
from engine.evaluation.calibration import Calibration
from engine.evaluation.evaluate import evaluate_derived_run, evaluate_run
from engine.evaluation.metrics import BinaryMetrics, binary_metrics
from engine.evaluation.perturbations import apply_shift
from engine.evaluation.site_fit import (
    DEFAULT_METHOD,
    RateInterval,
    SiteFit,
    bootstrap_rates,
    class_count_warning,
    class_counts,
    fit_site,
    require_both_classes,
    site_rule,
)
from engine.evaluation.typicality import load_run_stats
from engine.inference.predictor import ENSEMBLE_ARCH, load_run_model, predict_logits
from engine.provenance import code_version
from engine.training.augmentation import center_crop
from engine.training.devices import resolve_device

CONFIDENCE = 0.95
SHOWN_SKIPS = 3  # skipped sample files named in the warning
SKIP_WORDS = {"conflicting labels": "identical images under both labels"}
N_RESAMPLES = 2000


@dataclass(frozen=True)
class SiteCalibrationReport:
    """What `cxr calibrate` prints: the new run, the fit, the sample before and after, the
    intervals at the new threshold and the class-count warning (None when both suffice)."""

    run_id: int
    source_run_id: int
    site: str
    fit: SiteFit
    before: BinaryMetrics  # the source run's operating point on the sample
    after: BinaryMetrics  # the new operating point on the sample (in-sample)
    sensitivity: RateInterval
    specificity: RateInterval
    warning: str | None
    rest_evaluation_id: int | None


def site_logits(run: runs.RunInfo, images: list[SplitImage], device: torch.device,
                batch_size: int = 64, shift: str | None = None,
                model: torch.nn.Module | None = None,
                tta: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(raw logits, labels) of the run's model on these images, prepared as its evaluation
    prepares them (intensity normalisation, centre crop, TTA unless `tta` says otherwise),
    optionally under a shift."""
    size = int(run.config["image_size"])
    paths = [image.path for image in images]
    store, failures = load_store(paths, size)
    keep = readable(paths, failures, "site sample's")
    store = store[keep]
    if shift:
        store = apply_shift(shift, store, seed=images[0].image_id if images else 0)
    films = center_crop(normalize_intensity(store, run.config.get("intensity_norm", "none")),
                        float(run.config.get("test_center_crop", 1.0)))
    model = model if model is not None else load_run_model(run, device)
    logits = predict_logits(model, torch.from_numpy(films), device, batch_size,
                            tta=bool(run.config.get("tta")) if tta is None else tta)
    labels = np.array([image.label for image in images], dtype=int)[keep]
    return logits, labels


def _skipped_note(dataset_id: int, data_dir: str) -> str | None:
    """How many files of the sample were skipped and why, naming the first few (as `cxr
    ingest` does), or None when none was."""
    skipped = skipped_files(dataset_id, limit=100_000)
    if skipped.empty:
        return None
    kinds = Counter(SKIP_WORDS.get(kind, kind) for kind in map(skip_kind, skipped.reason))
    why = ", ".join(f"{count} {kind}" for kind, count in kinds.most_common())
    first = "; ".join(skipped.reason.head(SHOWN_SKIPS))
    more = f"; and {len(skipped) - SHOWN_SKIPS} more" if len(skipped) > SHOWN_SKIPS else ""
    return (f"{len(skipped)} files of the site sample {data_dir} were skipped ({why}): "
            f"{first}{more}")


def _source(run_id: int) -> runs.RunInfo:
    source = runs.get_run(run_id)
    if source.status != "completed" or source.arch == ENSEMBLE_ARCH or not source.checkpoint_path:
        raise UserError(f"run {run_id} cannot be calibrated on a site: calibrate a completed, "
                        f"single-model run (it is {source.status}, arch {source.arch})")
    return source


def calibrate_run(run_id: int, data_dir: str, threshold_rule: str | None = None,
                  method: str = DEFAULT_METHOD, evaluate_dir: str | None = None,
                  name: str | None = None, batch_size: int = 64,
                  device: str | None = None) -> SiteCalibrationReport:
    """Refit run `run_id`'s operating point on the labelled sample under `data_dir`."""
    source = _source(run_id)
    rule = site_rule(threshold_rule, source.threshold_rule, method)  # refused before any work
    resolved = resolve_device(device)
    dataset_id = dataset_for_root(data_dir)
    if evaluate_dir is not None:
        rest_id = dataset_for_root(evaluate_dir)
        if rest_id == dataset_id:
            raise UserError(f"--evaluate {evaluate_dir} is the calibration sample itself; pass "
                            "the rest of the site's images")
        if not dataset_images(rest_id):  # refused before a run is stored
            note = _skipped_note(rest_id, evaluate_dir)
            raise UserError(f"--evaluate {evaluate_dir} holds no usable images"
                            + (f" ({note})" if note else "")
                            + "; nothing was calibrated or stored: pass a folder of the site's "
                              "other labelled images (NORMAL/, PNEUMONIA/)")
    site = shift_store.dataset_name(dataset_id)
    skips = _skipped_note(dataset_id, data_dir)
    if skips:
        print(f"warning: {skips}", flush=True)
    logits, labels = site_logits(source, dataset_images(dataset_id), resolved, batch_size)
    require_both_classes(labels, f"the site sample {data_dir}" + (f" ({skips})" if skips
                                                                   else ""))
    source_calibration = Calibration(source.logit_offset, source.temperature)
    fit = fit_site(logits, labels, source_calibration, source.threshold, rule, method,
                   source_prior=_val_prior(source))
    probability = fit.calibration.apply(logits)
    sensitivity, specificity = bootstrap_rates(labels, probability, fit.threshold, N_RESAMPLES,
                                               CONFIDENCE)
    new_id = _create(source, site, fit, method, name, resolved)
    n_normal, n_pneumonia = class_counts(labels)
    record_site_calibration(SiteCalibrationInfo(
        new_id, source.id, dataset_id, site, fit.kept, n_normal, n_pneumonia, sensitivity.value,
        sensitivity.low, sensitivity.high, specificity.value, specificity.low, specificity.high,
        CONFIDENCE, N_RESAMPLES))
    evaluate_derived_run(new_id, source.split_id, lambda: None, batch_size, resolved,
                         external_data=data_dir)
    try:
        rest = (evaluate_run(new_id, data_dir=evaluate_dir, batch_size=batch_size,
                             device=resolved) if evaluate_dir is not None else None)
    except UserError as error:
        raise UserError(f"{error}; run {new_id} is calibrated and kept: evaluate it with "
                        f"`cxr evaluate {new_id} --data DIR`") from error
    return SiteCalibrationReport(
        new_id, source.id, site, fit,
        binary_metrics(labels, source_calibration.apply(logits), source.threshold),
        binary_metrics(labels, probability, fit.threshold), sensitivity, specificity,
        class_count_warning(labels), rest)


def _val_prior(source: runs.RunInfo) -> float | None:
    labels = [image.label for image in split_images(source.split_id, "val")]
    return float(np.mean(labels)) if labels else None


def _create(source: runs.RunInfo, site: str, fit: SiteFit, method: str, name: str | None,
            device: torch.device) -> int:
    """The new run: the source's config, checkpoint and typicality, the refitted point."""
    config = {**source.config, "calibrated_from": source.id, "calibrated_on": site,
              "site_calibration_method": method, "threshold_rule": fit.rule}
    new_id = runs.create_run(name or f"{source.name} calibrated on {site}", source.arch, config,
                             source.seed, str(device), source.dataset_id, source.split_id,
                             code_version=code_version())
    stats = load_run_stats(source)
    runs.update_run(new_id, checkpoint_path=source.checkpoint_path, train_seconds=0.0,
                    temperature=fit.calibration.temperature,
                    logit_offset=fit.calibration.offset, threshold=fit.threshold,
                    threshold_rule=fit.rule, typicality_path=source.typicality_path,
                    typicality_threshold=None if stats is None else stats.threshold)
    return new_id
