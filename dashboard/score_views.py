"""Pure component builders for the Score page: results cards, errors, the history table."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.alias_views import production_badge, verdict
from db.models import LABEL_NAMES
from db.runs import RunInfo
from db.uploads import ScoredUpload
from engine.inference.uploads import DecodedUpload

LABEL_COLORS = {0: "success", 1: "danger"}
# The server's config key holding where uploads are scored (`cxr serve --device`; None: default).
SCORING_DEVICE = "SCORING_DEVICE"


def label_badge(label: int | None) -> dbc.Badge | str:
    if label is None:
        return "–"
    return dbc.Badge(LABEL_NAMES[label], color=LABEL_COLORS[label], className="score-label")


def run_options(runs: list[RunInfo]) -> list[dict]:
    return [{"label": f"#{run.id} {run.name} ({run.arch}, threshold {run.threshold:.2f})",
             "value": run.id} for run in runs]


def agreement_badge(disagree: bool, assessable: bool = True) -> dbc.Badge:
    """Whether the runs' verdicts agree; only assessable scores have a verdict to compare."""
    if not assessable:
        return dbc.Badge("agreement not assessable", color="light", text_color="secondary",
                         className="score-agreement-na border ms-2",
                         title="No run finds the image like its training images: no verdicts")
    if disagree:
        return dbc.Badge("runs disagree", color="warning", text_color="dark",
                         className="score-disagreement ms-2",
                         title="The runs fall on different sides of their thresholds")
    return dbc.Badge("runs agree", color="secondary", className="score-agreement ms-2")


def outside_badge(outside: bool | None, typicality: float | None) -> dbc.Badge | None:
    """Shown when a run finds the image unlike the images it was trained on."""
    if not outside:
        return None
    return dbc.Badge("outside the training population", color="danger",
                     className="score-outside ms-1",
                     title=f"typicality {typicality:.2f}: the image's features are further from "
                           "the training images' than 99% of validation images (above 1 is "
                           "outside); treat this score with care")


def forced_badge(input_check: str | None) -> dbc.Badge | None:
    if not input_check:
        return None
    return dbc.Badge("forced past the input check", color="warning", text_color="dark",
                     className="score-forced ms-2", title=input_check)


def deid_note(file_format: str, removed: tuple[str, ...]) -> html.Details | None:
    """DICOM only: which patient-identifying attributes the stored copy lost (PS3.15 basic)."""
    if file_format != "DICOM":
        return None
    summary = (f"De-identified: {len(removed)} attribute(s) removed or replaced before storing"
               if removed else "De-identified: no identifying attributes were present")
    return html.Details([
        html.Summary(summary),
        html.Ul([html.Li(item) for item in removed], className="mb-1"),
        html.Div("Text burned into the pixels is not removed.", className="text-muted"),
    ], className="small mb-2 score-deid")


def stored_as(decoded: DecodedUpload, file_format: str) -> str:
    """What the store kept of it: the format, and that metadata and the file name were not."""
    if file_format == "DICOM":
        return "DICOM, stored de-identified, file name not stored"
    return (f"{decoded.uploaded_format or file_format}, stored as PNG pixels without "
            "metadata, file name not stored")


def result_card(decoded: DecodedUpload, result: ScoredUpload) -> dbc.Card:
    """One scored file: the image, then each run's probability, label, time and overlay.

    `decoded` is the file as uploaded (its name is shown in this response only); `result` is
    what the store holds."""
    upload = result.upload
    original = dbc.Col([
        html.Img(src=f"/files/upload/{upload.id}", className="img-fluid score-original",
                 alt=f"upload {upload.id}"),
        html.Div("uploaded image", className="small text-muted text-center"),
    ], xs=6, md=3, lg=2)
    columns = [original]
    for score in result.scores:
        columns.append(dbc.Col([
            html.Img(src=f"/files/upload-cam/{score.id}",
                     className="img-fluid score-overlay", alt=f"Grad-CAM of run {score.run_id}"),
            html.Div([html.Strong(f"#{score.run_id} {score.run_name}"),
                      production_badge(score)], className="small"),
            html.Div(verdict(score)),
            outside_badge(score.outside_population, score.typicality),
            html.Div(f"threshold {score.threshold:.3f} · {score.inference_ms:.0f} ms",
                     className="small text-muted score-time"),
        ], xs=6, md=3, lg=2, className="score-run"))
    return dbc.Card([
        # The file name comes from this browser's upload and is shown in this response only.
        dbc.CardHeader([html.Strong(decoded.name), html.Span(
            f" {stored_as(decoded, upload.file_format)} · upload #{upload.id}",
            className="text-muted"),
            agreement_badge(result.disagreement, result.assessable),
            forced_badge(decoded.input_check)]),
        dbc.CardBody([
            html.Div(f"Input check overridden: {decoded.input_check}",
                     className="small text-warning-emphasis mb-2 score-input-check")
            if decoded.input_check else None,
            deid_note(upload.file_format, upload.deidentified),
            dbc.Row(columns, className="g-3")]),
    ], className="cxr-card mb-3 score-result")


def error_card(message: str) -> dbc.Alert:
    return dbc.Alert([html.Strong("Not scored: "), message,
                      html.Div("Nothing was stored for this file.", className="small")],
                     color="danger", className="score-error mb-2")


def history_table(history: list[ScoredUpload],
                  label_id: str) -> dbc.Table | html.Div:
    """Past uploads, the latest score of each run, and a true-label picker per upload."""
    if not history:
        return html.Div("No uploads yet.", className="text-muted")
    head = html.Thead(html.Tr([html.Th(h) for h in (
        "#", "File", "Format", "Uploaded", "Scores (P(pneumonia), label)", "Agree", "True label")]))
    rows = []
    for entry in history:
        upload, scores, disagree = entry.upload, entry.scores, entry.disagreement
        rows.append(html.Tr([
            html.Td(upload.id),
            html.Td(html.A(upload.display_name, href=f"/files/upload/{upload.id}",
                           target="_blank")),
            html.Td(upload.file_format),
            html.Td(upload.created_at.strftime("%Y-%m-%d %H:%M")),
            html.Td([html.Div([html.Span(f"#{s.run_id} {s.run_name}: {s.probability:.3f} ",
                                         className=None if s.assessable else "text-muted"),
                               label_badge(s.predicted_label) if s.assessable
                               else verdict(s)[1], production_badge(s),
                               outside_badge(s.outside_population, s.typicality)])
                     for s in scores] + [forced_badge(upload.input_check)]),
            html.Td("no" if disagree else "yes" if entry.assessable else "-"),
            html.Td(dcc.Dropdown(
                id={"type": label_id, "upload": upload.id}, value=upload.true_label,
                options=[{"label": name, "value": value} for value, name in enumerate(LABEL_NAMES)],
                placeholder="unknown", clearable=True, style={"minWidth": "9rem"})),
        ]))
    return dbc.Table([head, html.Tbody(rows)], size="sm", striped=True, hover=True,
                     className="score-history")
