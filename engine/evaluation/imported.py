"""`cxr import-predictions`: a model trained elsewhere becomes a run of arch "external".

Its predictions file (engine/evaluation/predictions_file.py) names registered images; each is
evaluated on the subset of the patient split it belongs to, so the run pairs image for image
with ours in Compare. The split is another run's (`split_of`, the usual choice: the very images
that run was validated and tested on) or the dataset's split for `split_seed`, the one
`cxr train --split-seed N` uses. Rows in the split's train subset are counted, not evaluated.
Images of a dataset other than the split's are one "external" evaluation. Metrics, ROC and
drift are computed by engine/evaluation/evaluate.py exactly as for our runs. The run has no
checkpoint and no Grad-CAM: it cannot score, be explained, adapted or ensembled.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from db import evaluations, imported, runs
from db.models import EXTERNAL_ARCH, FIXED_THRESHOLD_RULE
from engine.data.discover import dataset_for_root
from engine.data.splits import get_or_create_split
from engine.errors import UserError
from engine.evaluation.evaluate import store_scored
from engine.evaluation.predictions_file import PredictionLine, PredictionsFile, read_predictions
from engine.evaluation.thresholds import choose_threshold, parse_threshold_rule
from engine.provenance import code_version

# How many unknown rows the report names (all are counted).
SHOWN_UNKNOWN = 5
EVALUATED_SUBSETS = ("val", "test")


@dataclass(frozen=True)
class Resolved:
    """The file's rows matched to registered images, grouped by the evaluation they go to."""

    groups: dict[str, list[tuple[int, int, float]]]  # split -> (image id, label, probability)
    unknown: list[PredictionLine]
    n_train: int


@dataclass(frozen=True)
class ImportReport:
    run_id: int
    n_rows: int
    evaluated: dict[str, int]  # split -> images
    unknown: list[PredictionLine] = field(default_factory=list)
    n_train: int = 0
    threshold: float = 0.5
    threshold_rule: str = FIXED_THRESHOLD_RULE

    @property
    def unknown_summary(self) -> str | None:
        if not self.unknown:
            return None
        shown = "; ".join(f"line {line.line}: {line.names}"
                          for line in self.unknown[:SHOWN_UNKNOWN])
        more = ", ..." if len(self.unknown) > SHOWN_UNKNOWN else ""
        return (f"{len(self.unknown)} of {self.n_rows} rows name no usable registered image "
                f"and were not imported ({shown}{more})")


def _choose_dataset(data_dir: str | None, split_of: runs.RunInfo | None) -> int:
    if data_dir:
        return dataset_for_root(data_dir)
    if split_of is not None:
        return int(split_of.dataset_id)
    registered = imported.registered_dataset_ids()
    if len(registered) == 1:
        return registered[0]
    raise UserError("say which dataset the file's paths are relative to: --data DIR "
                    f"({len(registered)} datasets are registered), or --split-of RUN")


def _source_run(split_of: int | None) -> runs.RunInfo | None:
    if split_of is None:
        return None
    run = runs.get_run(split_of)
    if run.split_id is None or run.dataset_id is None:
        raise UserError(f"run {split_of} has no patient split to share; pick a trained run")
    return run


def _index(dataset_id: int) -> tuple[dict, dict]:
    by_path, by_sha = {}, defaultdict(list)
    for key in imported.dataset_image_keys(dataset_id):
        by_path[key.rel_path] = key
        by_sha[key.sha256].append(key)
    return by_path, by_sha


def _strip_root(path: str, root: str) -> str:
    """An absolute path under the dataset root, made relative to it."""
    return path[len(root):].lstrip("/") if path.startswith(root.rstrip("/") + "/") else path


def resolve(predictions: PredictionsFile, dataset_id: int, subsets: imported.SplitSubsets,
            root: str) -> Resolved:
    """Match each row to its image(s); a second row for an image is a UserError naming both."""
    by_path, by_sha = _index(dataset_id)
    same_dataset = subsets.dataset_id == dataset_id
    groups: dict[str, list] = defaultdict(list)
    unknown, n_train, first_line = [], 0, {}
    for line in predictions.lines:
        keys = ([by_path.get(_strip_root(line.path, root))] if line.path
                else by_sha.get(line.sha256, []))
        if line.path and line.sha256 and keys[0] is not None and keys[0].sha256 != line.sha256:
            raise UserError(f"{predictions.name}: line {line.line}: path {line.path} and sha256 "
                            f"{line.sha256} name different images; fix or drop one of them")
        keys = [key for key in keys if key is not None and key.usable]
        if not keys:
            unknown.append(line)
            continue
        for key in keys:
            if key.image_id in first_line:
                raise UserError(
                    f"{predictions.name}: line {line.line}: {line.names} is image "
                    f"{key.rel_path}, already given on line {first_line[key.image_id]}; "
                    "give each image once")
            first_line[key.image_id] = line.line
            split = subsets.subset_of.get(key.image_id) if same_dataset else "external"
            if split == "train":
                n_train += 1
            elif split is not None:
                groups[split].append((key.image_id, key.label, line.probability))
    return Resolved(dict(groups), unknown, n_train)


def _threshold(predictions: PredictionsFile, resolved: Resolved,
               threshold_rule: str) -> tuple[float, str]:
    """The file's threshold, else `threshold_rule` chosen on val as for our runs."""
    if predictions.threshold is not None:
        return predictions.threshold, f"fixed:{predictions.threshold}"
    val = resolved.groups.get("val")
    if not val:
        if not threshold_rule.startswith("fixed:"):
            print(f"note: no val images in {predictions.name} to choose a {threshold_rule} "
                  "threshold on; the operating threshold is 0.5", flush=True)
            threshold_rule = FIXED_THRESHOLD_RULE
        return choose_threshold(threshold_rule, np.zeros(0), np.zeros(0))
    labels = np.array([label for _, label, _ in val])
    probability = np.array([p for _, _, p in val])
    return choose_threshold(threshold_rule, labels, probability)


def _store(run_id: int, resolved: Resolved, eval_dataset: int) -> dict[str, int]:
    """One completed evaluation per split (val first: the others' drift is against it)."""
    run = runs.get_run(run_id)
    evaluated = {}
    for split in (*EVALUATED_SUBSETS, "external"):
        scored = sorted(resolved.groups.get(split, []))
        if not scored:
            continue
        start = time.perf_counter()
        dataset_id = eval_dataset if split == "external" else run.dataset_id
        evaluation_id = evaluations.start_evaluation(run_id, split, dataset_id)
        rows = [evaluations.PredictionRow(
            image_id=image_id, probability=probability,
            predicted_label=int(probability >= run.threshold), true_label=label,
            cam_path=None, cam_raw_path=None) for image_id, label, probability in scored]
        try:
            store_scored(run, evaluation_id, split, rows, time.perf_counter() - start)
        except BaseException as exc:
            evaluations.fail_evaluation(evaluation_id, f"{type(exc).__name__}: {exc}")
            raise
        evaluated[split] = len(rows)
    return evaluated


def import_predictions(csv_path: str | Path, name: str, data_dir: str | None = None,
                       split_of: int | None = None, split_seed: int = 0,
                       threshold_rule: str = "youden") -> ImportReport:
    """Check the file, match its rows, and store it as a completed external run."""
    parse_threshold_rule(threshold_rule)
    predictions = read_predictions(csv_path)  # every row checked before anything is written
    if not name.strip():
        raise UserError("--name is empty; name the imported model")
    source = _source_run(split_of)
    dataset_id = _choose_dataset(data_dir, source)
    split_id = source.split_id if source else get_or_create_split(dataset_id, split_seed)
    subsets = imported.split_subsets(split_id)
    resolved = resolve(predictions, dataset_id, subsets, imported.dataset_root(dataset_id))
    if not resolved.groups:
        raise UserError(
            f"{predictions.name}: none of its {len(predictions.lines)} rows names a val, test "
            f"or external image ({len(resolved.unknown)} unknown, {resolved.n_train} in the "
            "split's train subset); check --data and that paths are relative to its root")
    threshold, rule = _threshold(predictions, resolved, threshold_rule)
    config = {"arch": EXTERNAL_ARCH, "source": predictions.name, "split_of": split_of,
              "split_seed": None if source else split_seed, "threshold_rule": rule,
              "epochs": 0}
    run_id = runs.create_run(name.strip(), EXTERNAL_ARCH, config, split_seed, "external",
                             subsets.dataset_id, split_id, code_version=code_version())
    runs.mark_running(run_id)
    try:
        runs.update_run(run_id, threshold=threshold, threshold_rule=rule, train_seconds=0.0)
        evaluated = _store(run_id, resolved, dataset_id)
        imported.record_import(imported.ImportRecord(
            run_id, predictions.name, predictions.sha256, len(predictions.lines),
            len(resolved.unknown), resolved.n_train, predictions.threshold is not None))
        runs.finish_run(run_id, "completed")
    except BaseException as exc:
        runs.finish_run(run_id, "failed", f"{type(exc).__name__}: {exc}")
        raise
    return ImportReport(run_id, len(predictions.lines), evaluated, resolved.unknown,
                        resolved.n_train, threshold, rule)
