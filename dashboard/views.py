"""Pure component builders (Bootstrap cards, galleries, tables): data in, components out."""

from __future__ import annotations

import dash_bootstrap_components as dbc
import pandas as pd
from dash import html

from dashboard import external_view, ids
from db.gallery import PredictionView
from db.models import LABEL_NAMES, REVIEW_VERDICTS

CELL_TITLES = {"tn": "True negative", "fp": "False positive", "fn": "False negative",
               "tp": "True positive"}
CELL_COLORS = {"tn": "success", "fp": "warning", "fn": "danger", "tp": "success"}
METRIC_NAMES = (("accuracy", "Accuracy"), ("sensitivity", "Sensitivity"),
                ("specificity", "Specificity"), ("precision", "Precision"), ("f1", "F1"),
                ("roc_auc", "ROC AUC"), ("ece", "ECE"))


def empty_state(what: str) -> dbc.Card:
    """What to run when the database holds nothing to show."""
    return dbc.Card(dbc.CardBody([
        html.H4(f"No {what} yet", className="card-title"),
        html.P("The results database is empty. Create some results, then reload this page:"),
        html.Ul([
            html.Li([html.Code("cxr demo"), " — synthetic images, two small models, about a "
                     "minute on a laptop CPU"]),
            html.Li([html.Code("cxr train --arch resnet18 --data DIR"), " — train on a chest "
                     "X-ray folder (train/ and test/, each with NORMAL/ and PNEUMONIA/)"]),
        ]),
        html.P(["Then ", html.Code("cxr serve"), " (this dashboard) reads the same "
                "database ($CXR_HOME or $CXR_DATABASE_URL)."], className="text-muted mb-0"),
    ]), className="cxr-card cxr-empty", id="empty-state")


def synthetic_badge(synthetic: bool) -> html.Span | None:
    if not synthetic:
        return None
    return dbc.Badge("SYNTHETIC demo data — not medical images", color="warning",
                     text_color="dark", className="ms-2")


def _format(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or pd.isna(value) else f"{value:.{digits}f}"


def metric_cards(metrics: dict) -> dbc.Row:
    cards = [dbc.Col(dbc.Card(dbc.CardBody([
        html.Div(name, className="cxr-metric-name"),
        html.Div(_format(metrics.get(key)), className="cxr-metric-value",
                 id=f"metric-{key}"),
    ], className="py-2"), className="cxr-card cxr-metric"), xs=6, md=3, lg=True)
        for key, name in METRIC_NAMES]
    return dbc.Row(cards, className="g-2")


def cell_label(cell: str, count: int, total: int) -> list:
    share = f"{count / total:.1%}" if total else "–"
    return [html.Span(CELL_TITLES[cell]), html.Span(str(count), className="cxr-cell-count"),
            html.Small(f"{share} of {total}")]


def gallery(items: list[PredictionView], overlay: bool, selected_image: int | None) -> html.Div:
    """Thumbnails of one page of a confusion cell; each tile is a button keyed by image id."""
    if not items:
        return html.Div("No images in this cell at this threshold.", className="text-muted p-3")
    tiles = []
    for item in items:
        source = (f"/files/cam-thumb/{item.prediction_id}" if overlay and item.has_cam
                  else f"/files/thumb/{item.image_id}")
        classes = "cxr-tile" + (" cxr-selected" if item.image_id == selected_image else "")
        tiles.append(html.Div([
            html.Img(src=source, alt=f"image {item.image_id}"),
            html.Div([html.Span(f"P = {item.probability:.3f}", className="fw-semibold"),
                      html.Span(f"  #{item.image_id}", className="text-muted")],
                     className="cxr-prob"),
            html.Div(f"{item.outside_lungs:.0%} outside lungs", className="small text-muted",
                     title="share of Grad-CAM energy outside the lung mask")
            if item.outside_lungs is not None else None,
            outside_population_badge(item),
        ], id={"type": ids.ERR_GALLERY_ITEM, "image": item.image_id}, n_clicks=0,
            className=classes, title=f"image {item.image_id}: P(pneumonia) "
                                     f"{item.probability:.4f}", **{"data-image": item.image_id}))
    return html.Div(tiles, className="cxr-gallery")


def outside_population_badge(item: PredictionView | None) -> dbc.Badge | None:
    """The typicality check's flag: unlike the images the run was trained on."""
    if not item or not item.outside_population:
        return None
    return dbc.Badge("outside the training population", color="danger",
                     className="cxr-outside-population",
                     title=f"typicality {item.typicality:.2f}: further from the training images' "
                           "features than 99% of val images (above 1 is outside)")


def review_list(reviews: list) -> html.Div:
    if not reviews:
        return html.Div("No reviews yet.", className="text-muted")
    colors = {"label error": "danger", "model error": "warning", "ambiguous": "secondary",
              "correct": "success"}
    return dbc.ListGroup([dbc.ListGroupItem([
        html.Div([dbc.Badge(review.verdict, color=colors.get(review.verdict, "secondary")),
                  html.Strong(f" {review.reviewer}", className="ms-1"),
                  html.Small(f"  {review.created_at:%Y-%m-%d %H:%M} UTC"
                             + (f" · run #{review.run_id}" if review.run_id else ""),
                             className="text-muted")]),
        html.Div(review.note, className="small mt-1") if review.note else None,
    ], className="review-item") for review in reviews], flush=True)


def review_form(reviewer: str | None = None) -> html.Div:
    """The review form; `reviewer` is the signed-in user (None: their role cannot review)."""
    if reviewer is None:
        return html.Div([html.H6("Review this image", className="mt-3"),
                         html.Div("Your role cannot save reviews: ask an admin for the "
                                  "reviewer role.", className="text-muted small")])
    return html.Div([
        html.H6("Review this image", className="mt-3"),
        dbc.RadioItems(id=ids.REVIEW_VERDICT, inline=True, className="mb-2",
                       options=[{"label": verdict, "value": verdict}
                                for verdict in REVIEW_VERDICTS]),
        html.Div(["Saved as ", html.Strong(reviewer, id=ids.REVIEW_REVIEWER)],
                 className="small text-muted mb-2"),
        dbc.Textarea(id=ids.REVIEW_NOTE, placeholder="Note (optional)", rows=2,
                     className="mb-2"),
        dbc.Button("Save review", id=ids.REVIEW_SAVE, color="primary", size="sm"),
        html.Div(id=ids.REVIEW_STATUS, className="mt-2"),
    ])


def other_runs_table(predictions: pd.DataFrame, current_run: int | None) -> dbc.Table | html.Div:
    if predictions.empty:
        return html.Div("No run has scored this image.", className="text-muted")
    rows = []
    for row in predictions.itertuples():
        rows.append(html.Tr([
            html.Td(f"#{row.run_id} {row.name}" + (" (this run)" if row.run_id == current_run
                                                    else "")),
            html.Td(row.split), html.Td(f"{row.probability:.3f}"),
            html.Td(f"{row.threshold:.3f}"),
            html.Td(dbc.Badge(row.predicted, color="danger" if row.predicted == LABEL_NAMES[1]
                              else "success")),
        ]))
    return dbc.Table([html.Thead(html.Tr([html.Th(h) for h in (
        "Run", "Split", "P(pneumonia)", "Threshold", "Prediction")])), html.Tbody(rows)],
        size="sm", striped=True, className="mb-0", id="other-runs")


def image_panel(info, prediction: PredictionView | None, predictions: pd.DataFrame, reviews: list,
                run_id: int | None, threshold: float, reviewer: str | None = None,
                external: bool = False) -> dbc.Card:
    """Large original and Grad-CAM, metadata, every run's probability, and the review form."""
    cam = (html.Img(src=f"/attention/lung-outline/{prediction.prediction_id}",
                    className="cxr-large", alt="Grad-CAM overlay with lung outline",
                    id="lung-outline")
           if prediction and prediction.has_cam
           else external_view.no_cam("its predictions were imported") if external
           else html.Div("No Grad-CAM stored", className="text-muted"))
    verdict = None
    if prediction:
        predicted = int(prediction.probability >= threshold)
        verdict = html.Span([
            f"P(pneumonia) {prediction.probability:.4f} at threshold {threshold:.3f} → ",
            dbc.Badge(LABEL_NAMES[predicted], color="danger" if predicted else "success"),
            " " if predicted == info.label else "  ",
            dbc.Badge("correct" if predicted == info.label else "wrong",
                      color="secondary" if predicted == info.label else "dark")])
    meta = [("Image id", info.id), ("Patient", info.patient_id),
            ("Label", LABEL_NAMES[info.label] if info.label in (0, 1) else info.label),
            ("Subtype", info.subtype or "–"),
            ("File", info.rel_path), ("Dataset", info.dataset),
            ("Size", f"{info.width}×{info.height}" if info.width else "–")]
    return dbc.Card([
        dbc.CardHeader([html.Strong(f"Image #{info.id}"), synthetic_badge(info.synthetic)]),
        dbc.CardBody([
            dbc.Row([
                dbc.Col([html.Div("Original", className="small text-muted"),
                         html.Img(src=f"/files/image/{info.id}", className="cxr-large",
                                  alt="original image"),
                         outside_population_badge(prediction)], md=4),
                dbc.Col([html.Div("Grad-CAM (evidence for the predicted class); cyan: the lung "
                                  "mask its lung share is measured against",
                                  className="small text-muted"), cam,
                         attention_line(prediction)], md=4),
                dbc.Col([
                    html.Div(verdict, className="mb-2"),
                    dbc.Table(html.Tbody([html.Tr([html.Th(k, className="text-muted fw-normal"),
                                                   html.Td(str(v), className="text-break")])
                                          for k, v in meta]), size="sm", className="mb-2"),
                ], md=4),
            ]),
            html.H6("Every run's probability for this image", className="mt-3"),
            other_runs_table(predictions, run_id),
            dbc.Row([
                dbc.Col(review_form(reviewer), md=6),
                dbc.Col([html.H6("Past reviews", className="mt-3"),
                         html.Div(review_list(reviews), id=ids.REVIEW_LIST)], md=6),
            ]),
        ]),
    ], className="cxr-card mt-3", id="image-panel")


def attention_line(prediction: PredictionView | None) -> html.Div | None:
    """Where this CAM looked: lung share, border share, peak in the lungs."""
    if not prediction or prediction.lung_share is None:
        return None
    peak = {True: "yes", False: "no", None: "–"}[prediction.peak_in_lung]
    return html.Div([
        html.Span(f"lung share {prediction.lung_share:.0%}", className="me-2 fw-semibold"),
        html.Span(f"border share {_format(prediction.border_share, 2)}", className="me-2"),
        html.Span(f"peak in lungs: {peak}")], className="small mt-1", id="attention-line")


def attention_difference(pairs: pd.DataFrame) -> list:
    """One line on how two runs' lung shares differ on the same images."""
    both = pairs.dropna(subset=["lung_share_a", "lung_share_b"])
    if both.empty:
        return []
    delta = both.lung_share_b - both.lung_share_a
    parts = [f"Mean lung share A {both.lung_share_a.mean():.2f}, B "
             f"{both.lung_share_b.mean():.2f}. B looks more at the lungs on "
             f"{int((delta > 0.05).sum())} images and less on {int((delta < -0.05).sum())} "
             f"(by more than 5 points), of {len(both)}."]
    if len(both) > 2 and both.lung_share_a.std() > 0 and both.lung_share_b.std() > 0:
        parts.append(f" Correlation of the two runs' lung shares: "
                     f"{both.lung_share_a.corr(both.lung_share_b):.2f}.")
    return [html.Span(part) for part in parts]


def shift_table(name: str, table: pd.DataFrame) -> html.Div:
    """One run's robustness checks: clean val first, then each shift with its AUC drop."""
    if table.empty or not (table["shift"] != "none").any():
        return html.Div([html.Strong(name), html.Span(
            " — no robustness checks yet (cxr evaluate RUN --shift all)",
            className="text-muted")], className="small mb-2")
    table = pd.concat([table[table["shift"] == "none"], table[table["shift"] != "none"]])
    rows = [html.Tr([
        html.Td("clean val" if row.shift == "none" else row.shift,
                className="fw-semibold" if row.shift == "none" else None),
        html.Td(_format(row.auc)), html.Td(_format(getattr(row, "auc_drop", None))),
        html.Td(_format(row.sensitivity)), html.Td(_format(row.specificity)),
        html.Td(_format(row.accuracy)), html.Td(_format(row.ece))])
        for row in table.itertuples()]
    head = html.Thead(html.Tr([html.Th(h) for h in (
        "Shift", "AUC", "AUC drop", "Sens", "Spec", "Acc", "ECE")]))
    return html.Div([html.H6(name, className="mt-2"),
                     dbc.Table([head, html.Tbody(rows)], size="sm", striped=True,
                               className="shift-table mb-2")])


def calibration_table(table: pd.DataFrame) -> dbc.Table | html.Div:
    """Per run: temperature, operating threshold and its rule, ECE before -> after scaling."""
    if table.empty:
        return html.Div("Select runs to compare their calibration.", className="text-muted")
    rows = []
    for row in table.itertuples():
        name = [html.Div(f"#{row.run_id} {row.name}")]
        if row.is_ensemble:
            name.append(dbc.Badge("ensemble", color="primary", className="me-1"))
            name.append(html.Small(str(row.members or ""), className="text-muted"))
        rows.append(html.Tr([
            html.Td(name), html.Td(_format(row.temperature, 2)),
            html.Td([_format(row.threshold), html.Small(f" {row.threshold_rule}",
                                                        className="text-muted")]),
            *[html.Td(f"{_format(getattr(row, f'{split}_ece_uncalibrated'))} → "
                      f"{_format(getattr(row, f'{split}_ece'))}") for split in ("val", "test")],
        ]))
    head = html.Thead(html.Tr([html.Th(h) for h in (
        "Run", "Temperature", "Threshold (rule)", "val ECE before → after",
        "test ECE before → after")]))
    return dbc.Table([head, html.Tbody(rows)], size="sm", striped=True,
                     id="calibration-table", className="mb-0")


def delta_table(deltas: list, name_a: str, name_b: str) -> dbc.Table:
    names = dict(METRIC_NAMES)
    rows = []
    for delta in deltas:
        excludes_zero = delta.low > 0 or delta.high < 0
        rows.append(html.Tr([
            html.Td(names.get(delta.metric, delta.metric)), html.Td(_format(delta.value_a)),
            html.Td(_format(delta.value_b)),
            html.Td(f"{delta.delta:+.3f}", className="fw-semibold"),
            html.Td(f"[{delta.low:+.3f}, {delta.high:+.3f}]"),
            html.Td(dbc.Badge("significant" if excludes_zero else "CI spans 0",
                              color="primary" if excludes_zero else "light",
                              text_color=None if excludes_zero else "dark")),
        ]))
    return dbc.Table([html.Thead(html.Tr([html.Th(h) for h in (
        "Metric", f"A: {name_a}", f"B: {name_b}", "B − A", "95% CI (paired bootstrap)", "")])),
        html.Tbody(rows)], size="sm", striped=True, id=ids.CMP_DELTAS + "-table")
