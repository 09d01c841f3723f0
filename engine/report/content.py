"""What a report holds, read through db/ and computed with the shared metrics: one RunSection per
run, and for several runs the comparison of each with the first."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from db import evaluations, gallery, reports, shift
from db.reports import Provenance, ReportedEvaluation, VerdictCount
from db.runs import get_run
from engine.errors import UserError
from engine.evaluation import advice, stats
from engine.evaluation.metrics import BinaryMetrics, binary_metrics, expected_calibration_error
from engine.report import thumbnails

SPLITS = ("test", "val")
# The threshold table's grid; the run's stored threshold is added to it.
THRESHOLD_GRID = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
WORST_PER_CELL = 6
# Keys of a run's config that hold paths: the report names the data set instead.
PATH_KEYS = ("data", "weights")
MAX_EXTERNAL_SERIES = 6


@dataclass(frozen=True)
class WorstError:
    """A confidently wrong prediction: false negatives first, then false positives."""

    cell: str  # "fn" | "fp"
    image_id: int
    probability: float
    true_label: int
    lung_share: float | None
    image_uri: str | None  # None: not embedded (uploads, or the file is gone)
    cam_uri: str | None


@dataclass(frozen=True, eq=False)
class RunSection:
    provenance: Provenance
    evaluation: ReportedEvaluation
    metrics: BinaryMetrics  # at the run's stored threshold
    intervals: list[stats.MetricInterval]
    threshold_table: list[BinaryMetrics]
    roc: dict | None
    reliability: dict
    external: object  # the shift view's table (db.shift.external_evaluations), a DataFrame
    external_series: list[dict]
    worst: list[WorstError]
    verdicts: list[VerdictCount]

    @property
    def label(self) -> str:
        return f"#{self.provenance.run_id} {self.provenance.name}"


@dataclass(frozen=True)
class Comparison:
    """Run B against run A on the images both scored: deltas with paired intervals and the
    flip matrix (each run at its own stored threshold)."""

    label_a: str
    label_b: str
    n_images: int
    deltas: list[stats.MetricDelta]
    cells: dict[str, int]  # right-right, right-wrong, wrong-right, wrong-wrong


def shareable_config(config: dict, dataset: str | None) -> dict:
    """The run's config with its paths replaced: a report carries no file or folder names."""
    return {key: (f"<data set {dataset}>" if key == "data" and value else
                  "<a path, not shown>" if key in PATH_KEYS and value else value)
            for key, value in sorted(config.items())}


def _worst(evaluation: ReportedEvaluation, threshold: float,
           per_cell: int) -> list[WorstError]:
    found = []
    for cell in ("fn", "fp"):
        page = gallery.cell_images(evaluation.evaluation_id, cell, threshold,
                                   sort="confident_first", limit=per_cell)
        for item in page.items:
            embed = not evaluation.on_uploads
            found.append(WorstError(
                cell, item.image_id, item.probability, item.true_label, item.lung_share,
                thumbnails.image_thumbnail(item.image_id) if embed else None,
                thumbnails.cam_thumbnail(item) if embed else None))
    return found


def _external(run_id: int) -> tuple[object, list[dict]]:
    table = shift.external_evaluations(run_id)
    if not (table.split == "external").any():
        return table, []
    series = [{"name": "val" if row.split == "val" else f"external: {row.dataset}",
               "values": shift.evaluation_scores(row.evaluation_id).probability}
              for row in table.itertuples()][:MAX_EXTERNAL_SERIES]
    return table, series


def run_section(run_id: int, split: str, per_cell: int = WORST_PER_CELL) -> RunSection:
    run = get_run(run_id)
    evaluation = reports.reported_evaluation(run_id, split)
    if evaluation is None:
        other = "val" if split == "test" else "test"
        if advice.is_crossval(run) or run.is_external:
            raise UserError(advice.missing_evaluation(run, split))
        raise UserError(f"{advice.missing_evaluation(run, split)} first, or choose --split "
                        f"{other}")
    scored = evaluations.evaluation_arrays(evaluation.evaluation_id)
    labels, probability = scored.true_label, scored.probability
    thresholds = sorted({*THRESHOLD_GRID, run.threshold})
    external, series = _external(run_id)
    return RunSection(
        provenance=reports.provenance(run_id), evaluation=evaluation,
        metrics=binary_metrics(labels, probability, run.threshold),
        intervals=stats.metric_intervals(labels, probability, run.threshold),
        threshold_table=[binary_metrics(labels, probability, value) for value in thresholds],
        roc=stats.roc_curve_points(labels, probability),
        reliability={**stats.reliability_points(labels, probability),
                     "ece": expected_calibration_error(labels, probability)},
        external=external, external_series=series,
        worst=_worst(evaluation, run.threshold, per_cell),
        verdicts=reports.verdict_counts(evaluation.evaluation_id))


def comparison(section_a: RunSection, section_b: RunSection) -> Comparison:
    pairs = evaluations.paired_predictions(section_a.evaluation.evaluation_id,
                                           section_b.evaluation.evaluation_id)
    threshold_a = section_a.provenance.threshold
    threshold_b = section_b.provenance.threshold
    if pairs.empty:
        return Comparison(section_a.label, section_b.label, 0, [], {})
    labels = pairs.true_label.to_numpy()
    probability_a, probability_b = pairs.probability_a.to_numpy(), pairs.probability_b.to_numpy()
    masks = stats.agreement_cells(labels, probability_a >= threshold_a,
                                  probability_b >= threshold_b)
    return Comparison(section_a.label, section_b.label, len(pairs),
                      stats.bootstrap_deltas(labels, probability_a, threshold_a, probability_b,
                                             threshold_b),
                      {cell: int(np.sum(mask)) for cell, mask in masks.items()})


@dataclass(frozen=True, eq=False)
class ReportContent:
    split: str
    sections: list[RunSection]
    comparisons: list[Comparison]


def report_content(run_ids: list[int], split: str = "test",
                   per_cell: int = WORST_PER_CELL) -> ReportContent:
    """Every section of the report; a UserError names a run that does not exist or has no
    evaluation of `split`."""
    if split not in SPLITS:
        raise UserError(f"unknown split {split!r}: a report shows {' or '.join(SPLITS)}")
    if not run_ids:
        raise UserError("name at least one run: `cxr runs` lists them")
    unique = list(dict.fromkeys(run_ids))
    sections = [run_section(run_id, split, per_cell) for run_id in unique]
    comparisons = [comparison(sections[0], other) for other in sections[1:]]
    return ReportContent(split, sections, comparisons)
