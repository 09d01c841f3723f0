"""Site calibration proxy: which refit of a run's operating point a small labelled sample of a
new site supports (`cxr calibrate`, engine/evaluation/site_fit.py).

The "site" is the run's val under an acquisition shift (crop-0.7, jpeg-q50, downscale-0.3) or
the NIH set (a different hospital and population; never trained on). For each site, sample
size and draw, N labelled images are drawn at random (both classes present), the operating point
is refitted on them by each method, and the rest of the site scores it: accuracy, sensitivity,
specificity and ECE, as the median and 10th-90th percentile over draws. The baseline, measured
in the same run, is the source run's own operating point ("none"). It also counts how often the
rest's sensitivity and specificity fall inside the sample's 95% bootstrap intervals.

The run's raw logits per image and site are computed once (cached in --cache); the draws then
cost only numpy. The source's operating point is refitted on the clean val logits exactly as
training fits it (engine/training/train.py), so `--no-tta` (5x fewer forward passes) and a
checkpoint of a run still training give a consistent source.

    CXR_HOME=/tmp/calib-home python bench/site_calibration.py --run 1 \
        --nih /work/shared/data/external/nih_cxr8
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from db import runs
from db.splits import dataset_images, split_images
from engine.data.discover import dataset_for_root
from engine.evaluation.calibration import Calibration, choose_calibration
from engine.evaluation.metrics import expected_calibration_error
from engine.evaluation.site_calibration import site_logits
from engine.evaluation.site_fit import METHODS, bootstrap_rates, fit_site
from engine.evaluation.thresholds import choose_threshold
from engine.inference.predictor import load_run_model
from engine.training.devices import resolve_device

SHIFTS = ("crop-0.7", "jpeg-q50", "downscale-0.3")
REPORTED = ("accuracy", "sensitivity", "specificity", "ece")


def site_scores(run: runs.RunInfo, nih: str | None, cache: Path,
                tta: bool | None) -> dict[str, dict]:
    """{site: {"logits", "labels"}} for val clean, val under each shift and NIH (cached)."""
    if cache.is_file():
        stored = np.load(cache)
        sites = sorted({key.rsplit("/", 1)[0] for key in stored.files})
        return {site: {"logits": stored[f"{site}/logits"], "labels": stored[f"{site}/labels"]}
                for site in sites}
    device = resolve_device("cpu")
    model = load_run_model(run, device)
    val = split_images(run.split_id, "val")
    sites = {}
    for shift in (None, *SHIFTS):
        logits, labels = site_logits(run, val, device, shift=shift, model=model, tta=tta)
        sites[shift or "val"] = {"logits": logits, "labels": labels}
    if nih:
        logits, labels = site_logits(run, dataset_images(dataset_for_root(nih)), device,
                                     model=model, tta=tta)
        sites["nih"] = {"logits": logits, "labels": labels}
    np.savez(cache, **{f"{site}/{key}": value for site, values in sites.items()
                       for key, value in values.items()})
    return sites


def source_point(run: runs.RunInfo, val: dict) -> runs.RunInfo:
    """The run with its calibration and threshold refitted on these clean val logits, as
    training fits them (the class-weight prior offset is one candidate)."""
    train = np.array([image.label for image in split_images(run.split_id, "train")])
    prior_offset = float(np.log((len(train) - train.sum()) / max(train.sum(), 1)))
    calibration = (choose_calibration(val["logits"], val["labels"], prior_offset)
                   if run.config.get("calibrate", True) else Calibration())
    threshold, rule = choose_threshold(run.config.get("threshold_rule", "youden"),
                                       val["labels"], calibration.apply(val["logits"]))
    return replace(run, temperature=calibration.temperature, logit_offset=calibration.offset,
                   threshold=threshold, threshold_rule=rule)


def _draw(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    while True:
        chosen = rng.choice(len(labels), size=size, replace=False)
        if 0 < labels[chosen].sum() < size:
            return chosen


def _metrics(labels: np.ndarray, probability: np.ndarray, threshold: float) -> dict:
    """engine.evaluation.metrics.binary_metrics's four figures, without scikit-learn's
    per-call overhead (the draws call this tens of thousands of times)."""
    predicted = probability >= threshold
    return {"accuracy": float(np.mean(predicted == labels)),
            "sensitivity": float(np.mean(predicted[labels == 1])),
            "specificity": float(np.mean(~predicted[labels == 0])),
            "ece": expected_calibration_error(labels, probability)}


def one_draw(run: runs.RunInfo, logits: np.ndarray, labels: np.ndarray, chosen: np.ndarray,
             rule: str, val_prior: float) -> dict[str, dict]:
    """Each method's metrics on the rest of the site after fitting on `chosen`."""
    rest = np.setdiff1d(np.arange(len(labels)), chosen)
    source = Calibration(run.logit_offset, run.temperature)
    results = {"none": _metrics(labels[rest], source.apply(logits[rest]), run.threshold)}
    for method in METHODS:
        fit = fit_site(logits[chosen], labels[chosen], source, run.threshold, rule, method,
                       source_prior=val_prior)
        results[method] = _metrics(labels[rest], fit.calibration.apply(logits[rest]),
                                   fit.threshold)
        if method == "offset+temperature":
            sample = fit.calibration.apply(logits[chosen])
            intervals = bootstrap_rates(labels[chosen], sample, fit.threshold, 1000)
            results[method]["covered"] = [
                interval.low <= results[method][name] <= interval.high
                for interval, name in zip(intervals, ("sensitivity", "specificity"),
                                          strict=True)]
    return results


def summarise(values: list[float]) -> str:
    low, median, high = np.nanpercentile(values, [10, 50, 90])
    return f"{median:.3f} ({low:.3f}-{high:.3f})"


def experiment(run: runs.RunInfo, sites: dict, sizes: list[int], draws: int, rule: str,
               methods: tuple[str, ...]) -> list[dict]:
    val_prior = float(np.mean(sites["val"]["labels"]))
    rows = []
    for site, data in sites.items():
        if site == "val":
            continue
        for size in sizes:
            rng = np.random.default_rng(size)
            outcomes = [one_draw(run, data["logits"], data["labels"],
                                 _draw(data["labels"], size, rng), rule, val_prior)
                        for _ in range(draws)]
            for method in methods:
                row = {"site": site, "n": size, "rule": rule, "method": method,
                       "site_images": len(data["labels"])}
                for name in REPORTED:
                    values = [outcome[method][name] for outcome in outcomes]
                    row[name] = summarise(values)
                    row[f"{name}_median"] = float(np.nanmedian(values))
                if method == "offset+temperature":
                    covered = np.array([outcome[method]["covered"] for outcome in outcomes])
                    row["coverage_sensitivity"], row["coverage_specificity"] = (
                        float(share) for share in covered.mean(axis=0))
                rows.append(row)
    return rows


def print_table(rows: list[dict]) -> None:
    print("| site | labelled | rule | method | accuracy | sensitivity | specificity | ECE |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row['site']} | {row['n']} | {row['rule']} | {row['method']} | "
              f"{row['accuracy']} | {row['sensitivity']} | {row['specificity']} | "
              f"{row['ece']} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=int, required=True, help="the source run (in CXR_HOME)")
    parser.add_argument("--nih", help="the NIH folder (NORMAL/, PNEUMONIA/), a robustness check")
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 40, 80])
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--rules", nargs="+", default=None,
                        help="threshold rules to compare (default: the run's)")
    parser.add_argument("--cache", default="site-logits.npz",
                        help="where the run's logits per site are kept between runs")
    parser.add_argument("--out", help="also write every row as JSON here")
    parser.add_argument("--no-tta", dest="tta", action="store_false", default=None,
                        help="no test-time augmentation, whatever the run's config says")
    args = parser.parse_args()
    run = runs.get_run(args.run)
    sites = site_scores(run, args.nih, Path(args.cache), args.tta)
    run = source_point(run, sites["val"])
    print(f"source operating point on clean val: offset {run.logit_offset:.3f}, temperature "
          f"{run.temperature:.3f}, threshold {run.threshold:.3f} ({run.threshold_rule})")
    for site, data in sites.items():
        print(f"{site}: {len(data['labels'])} images, {int(data['labels'].sum())} PNEUMONIA")
    rows = experiment(run, sites, args.sizes, args.draws, run.threshold_rule,
                      ("none", *METHODS))
    for rule in args.rules or []:
        if rule != run.threshold_rule:
            rows += experiment(run, sites, args.sizes, args.draws, rule, METHODS[:3])
    print(f"run {run.id} ({run.name}): median (10th-90th percentile) over {args.draws} draws, "
          "on the rest of each site")
    print_table(rows)
    print("offset+temperature: share of draws whose rest falls inside the sample's 95% "
          "bootstrap interval (sensitivity, specificity)")
    for row in rows:
        if "coverage_sensitivity" in row:
            print(f"  {row['site']} n={row['n']} {row['rule']}: "
                  f"{row['coverage_sensitivity']:.2f}, {row['coverage_specificity']:.2f}")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
