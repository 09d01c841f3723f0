"""The report as one self-contained HTML page: plotly.js inlined, images as data URIs, and a
Content-Security-Policy that lets the page load nothing from anywhere.

Every text from the database (run names, config values, data set names) is escaped.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html import escape

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from db.models import LABEL_NAMES
from engine.report.content import Comparison, ReportContent, RunSection, shareable_config
from engine.report.figures import (
    PALETTE,
    calibration_overlay,
    probability_histograms,
    roc_overlay,
)

PATIENT_NOTICE = ("PATIENT DATA: this report embeds chest X-ray images (small thumbnails of "
                  "misclassified images and their Grad-CAMs). Share it only with people allowed "
                  "to see them.")
# No request of any kind: images are data: URIs, scripts and styles are inline.
CONTENT_POLICY = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
                  "script-src 'unsafe-inline'; font-src data:")
METRIC_NAMES = {"accuracy": "Accuracy", "sensitivity": "Sensitivity",
                "specificity": "Specificity", "f1": "F1", "roc_auc": "ROC AUC"}
CELL_NAMES = {"fn": "False negative", "fp": "False positive"}
FLIP_NAMES = {"right-right": "both right", "right-wrong": "A right, B wrong",
              "wrong-right": "A wrong, B right", "wrong-wrong": "both wrong"}
STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;
max-width:1200px;padding:0 16px 40px;color:#212529}
.notice{background:#fff3cd;border:1px solid #ffe69c;padding:8px 12px;font-weight:600;margin:0}
h1{font-size:1.6rem}h2{border-bottom:2px solid #dee2e6;padding-bottom:4px;margin-top:32px}
table{border-collapse:collapse;margin:8px 0;font-size:.9rem}
th,td{border:1px solid #dee2e6;padding:3px 8px;text-align:left}th{background:#eef2f7}
tr.stored td{background:#e7f1ff;font-weight:600}.muted{color:#6c757d}
.grid{display:flex;flex-wrap:wrap;gap:10px}.tile{border:1px solid #dee2e6;padding:6px;
font-size:.8rem;width:340px}.tile img{width:160px;height:160px;object-fit:contain;
background:#000;margin-right:4px}pre{background:#f8f9fa;padding:8px;font-size:.8rem;
overflow-x:auto}.figures{display:flex;flex-wrap:wrap}.figures>div{flex:1 1 520px}
"""


def _number(value: object, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else escape(str(value))


def _table(head: list[str], rows: list[list[str]], row_classes: list[str] | None = None,
           table_class: str = "") -> str:
    """An HTML table; the cells are already escaped (or numbers)."""
    classes = row_classes or [""] * len(rows)
    body = "".join(f'<tr class="{css}">' + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>"
                   for row, css in zip(rows, classes, strict=True))
    header = "".join(f"<th>{escape(text)}</th>" for text in head)
    return (f'<table class="{table_class}"><thead><tr>{header}</tr></thead>'
            f"<tbody>{body}</tbody></table>")


def _figure(figure: go.Figure, element_id: str) -> str:
    return pio.to_html(figure, full_html=False, include_plotlyjs=False, div_id=element_id,
                       config={"displaylogo": False, "responsive": True})


def _curves(content: ReportContent) -> str:
    roc, reliability = [], []
    for section in content.sections:
        if section.roc:
            roc.append({"name": section.label, "fpr": section.roc["fpr"],
                        "tpr": section.roc["tpr"], "auc": section.metrics.roc_auc})
        reliability.append({"name": section.label, **section.reliability})
    roc_figure = roc_overlay(roc)
    for index, section in enumerate(content.sections):  # each run's operating point
        metrics = section.metrics
        roc_figure.add_scatter(
            x=[1 - metrics.specificity], y=[metrics.sensitivity], mode="markers",
            name=f"{section.label} at {metrics.threshold:.3f}",
            marker={"size": 11, "color": PALETTE[index % len(PALETTE)], "symbol": "diamond",
                    "line": {"width": 1, "color": "white"}})
    return ('<h2>ROC and reliability</h2><div class="figures">'
            + _figure(roc_figure, "report-roc")
            + _figure(calibration_overlay(reliability), "report-reliability") + "</div>")


def _provenance(section: RunSection) -> str:
    run, evaluation = section.provenance, section.evaluation
    split = (f"seed {run.split_seed}, val {run.val_fraction:g}, test {run.test_fraction:g} "
             "(0: the data set's own test folder)" if run.split_seed is not None else "–")
    duration = run.duration_s
    rows = [("Run", f"#{run.run_id} {run.name} ({run.arch}), {run.status}"),
            ("Code version", run.code_version), ("Device", run.device),
            ("Data set", (run.dataset or "–") + (" (SYNTHETIC demo data)" if run.synthetic
                                                 else "")),
            ("Split (patient level)", split), ("Training seed", run.seed),
            ("Trained", f"{run.started_at:%Y-%m-%d %H:%M} UTC" if run.started_at else "–"),
            ("Duration", f"{duration:.0f} s" if duration is not None else "–"),
            ("Best epoch", run.best_epoch if run.best_epoch is not None else "–"),
            ("Threshold (rule)", f"{run.threshold:.4f} ({run.threshold_rule}, "
                                 f"{threshold_source(run.config)})"),
            ("Calibration temperature", f"{run.temperature:.3f}"),
            ("Evaluated", f"{evaluation.split} of {evaluation.dataset or '–'}: "
                          f"{evaluation.n_images} images, {evaluation.created_at:%Y-%m-%d %H:%M}"
                          " UTC"),
            ("Health", run.health_warning or "no warning")]
    table = _table(["", ""], [[escape(key), escape(str(value))] for key, value in rows])
    config = json.dumps(shareable_config(run.config, run.dataset), indent=1, default=str)
    return (f"<h3>Provenance</h3>{table}<details><summary>Training config</summary>"
            f"<pre>{escape(config)}</pre></details>")


def threshold_source(config: dict) -> str:
    """Where the run's threshold was chosen: val, or a `cxr calibrate` site sample."""
    if not config.get("calibrated_on"):
        return "chosen on val"
    if config.get("site_calibration_method") == "prior":
        return f"kept from run {config.get('calibrated_from')}, chosen on its val"
    return f"chosen on the site sample {config['calibrated_on']}"


def _metrics(section: RunSection) -> str:
    rows = [[escape(METRIC_NAMES[item.metric]), _number(item.value),
             f"[{_number(item.low)}, {_number(item.high)}]"] for item in section.intervals]
    rows.append(["ECE", _number(section.reliability["ece"]), "–"])
    metrics = section.metrics
    confusion = _table(["", f"predicted {LABEL_NAMES[0]}", f"predicted {LABEL_NAMES[1]}"], [
        [f"true {LABEL_NAMES[0]}", f"{metrics.tn} (TN)", f"{metrics.fp} (FP)"],
        [f"true {LABEL_NAMES[1]}", f"{metrics.fn} (FN)", f"{metrics.tp} (TP)"]],
        table_class="confusion")
    return (f"<h3>Metrics at the stored threshold {metrics.threshold:.4f}</h3>"
            + _table(["Metric", "Value", "95% CI (bootstrap, 1,000 resamples)"], rows,
                     table_class="metrics")
            + f"<h3>Confusion matrix</h3>{confusion}")


def _threshold_table(section: RunSection) -> str:
    stored = section.provenance.threshold
    rows, classes = [], []
    for item in section.threshold_table:
        rows.append([_number(item.threshold, 3), _number(item.sensitivity),
                     _number(item.specificity), _number(item.precision), _number(item.f1),
                     str(item.fp), str(item.fn)])
        classes.append("stored" if abs(item.threshold - stored) < 1e-6 else "")
    return ("<h3>Threshold table</h3><p class='muted'>Highlighted: the stored threshold.</p>"
            + _table(["Threshold", "Sensitivity", "Specificity", "Precision", "F1", "FP", "FN"],
                     rows, classes, table_class="thresholds"))


def _shift(section: RunSection) -> str:
    table = section.external
    if not section.external_series:
        return ""
    rows = [[escape("val" if row.split == "val" else f"external: {row.dataset}"),
             str(row.n_images), _number(row.auc), _number(row.specificity),
             _number(row.sensitivity), _number(row.ece), _number(row.outside_share),
             _number(row.drift_psi), _number(row.drift_ks)] for row in table.itertuples()]
    head = ["Data", "Images", "AUC", "Spec", "Sens", "ECE", "Outside population", "PSI", "KS"]
    figure = probability_histograms(section.external_series)
    return ("<h3>Shift: external data beside val</h3>" + _table(head, rows)
            + _figure(figure, f"report-shift-{section.provenance.run_id}"))


def _tile(error) -> str:  # noqa: ANN001 - a content.WorstError
    pictures = "".join(f'<img src="{uri}" alt="{alt}">' for uri, alt in (
        (error.image_uri, "image"), (error.cam_uri, "Grad-CAM with lung outline")) if uri)
    share = "" if error.lung_share is None else f", lung share {error.lung_share:.0%}"
    return (f'<div class="tile"><div>{pictures or "<span class=muted>not embedded</span>"}</div>'
            f"<div><b>{CELL_NAMES[error.cell]}</b> · image #{error.image_id} · true "
            f"{LABEL_NAMES[error.true_label]} · P(pneumonia) {error.probability:.3f}{share}"
            "</div></div>")


def _worst(section: RunSection) -> str:
    if not section.worst:
        return "<h3>Worst errors</h3><p class='muted'>No errors at the stored threshold.</p>"
    note = ("<p class='muted'>Most confident errors, false negatives first. Left: the image; "
            "right: its Grad-CAM, cyan: the lung outline its lung share is measured against."
            + (" Scored uploads: their pixels never go in a report." if
               section.evaluation.on_uploads else "") + "</p>")
    return ("<h3>Worst errors</h3>" + note + '<div class="grid">'
            + "".join(_tile(error) for error in section.worst) + "</div>")


def _verdicts(section: RunSection) -> str:
    rows = [[escape(item.verdict), str(item.reviews), str(item.images)]
            for item in section.verdicts]
    return ("<h3>Review verdicts on these images</h3>"
            + _table(["Verdict", "Reviews", "Images"], rows, table_class="verdicts"))


def _section(section: RunSection) -> str:
    return (f'<section class="run" id="run-{section.provenance.run_id}">'
            f"<h2>{escape(section.label)}</h2>" + _provenance(section) + _metrics(section)
            + _threshold_table(section) + _shift(section) + _worst(section)
            + _verdicts(section) + "</section>")


def _comparison(item: Comparison) -> str:
    title = f"<h3>B: {escape(item.label_b)} against A: {escape(item.label_a)}</h3>"
    if not item.n_images:
        return title + "<p class='muted'>These runs share no images on this split.</p>"
    rows = [[escape(METRIC_NAMES[d.metric]), _number(d.value_a), _number(d.value_b),
             f"{d.delta:+.3f}", f"[{d.low:+.3f}, {d.high:+.3f}]"] for d in item.deltas]
    flips = _table(["", "B right", "B wrong"], [
        ["A right", str(item.cells["right-right"]), str(item.cells["right-wrong"])],
        ["A wrong", str(item.cells["wrong-right"]), str(item.cells["wrong-wrong"])]],
        table_class="flips")
    return (title + f"<p class='muted'>{item.n_images} paired images, each run at its stored "
            "threshold; 95% CI by paired bootstrap (1,000 resamples).</p>"
            + _table(["Metric", "A", "B", "B − A", "95% CI"], rows, table_class="deltas")
            + "<h4>Flip matrix</h4>" + flips)


def render(content: ReportContent, generated_by: str) -> str:
    """The whole page; `generated_by` names the code version that wrote it."""
    names = ", ".join(section.label for section in content.sections)
    comparisons = ("<h2>Comparison</h2>" + "".join(_comparison(c) for c in content.comparisons)
                   if content.comparisons else "")
    now = datetime.now(UTC)
    return (f"<!-- {PATIENT_NOTICE} -->\n<!DOCTYPE html>\n<html lang='en'><head>"
            f'<meta charset="utf-8"><meta http-equiv="Content-Security-Policy" '
            f'content="{CONTENT_POLICY}"><title>CXR Lens report: {escape(names)}</title>'
            f"<style>{STYLE}</style><script>{get_plotlyjs()}</script></head><body>"
            f'<p class="notice" id="patient-notice">{escape(PATIENT_NOTICE)}</p>'
            f"<h1>CXR Lens report: {escape(names)}</h1>"
            f"<p class='muted'>Split: {escape(content.split)}. Written {now:%Y-%m-%d %H:%M} UTC "
            f"by CXR Lens {escape(generated_by)}. Images are named by their database id only."
            "</p>" + _curves(content) + comparisons
            + "".join(_section(section) for section in content.sections) + "</body></html>")
