"""Errors: one run, one split. Live threshold, confusion cells, drill-down gallery, review."""

from __future__ import annotations

from functools import lru_cache

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, clientside_callback, ctx, dcc, html
from dash.exceptions import PreventUpdate

from dashboard import (
    auth,
    external_view,
    figures,
    files,
    ids,
    label_queue,
    lookalike_views,
    map_views,
    slices_view,
    views,
)
from dashboard import url_state as state
from dashboard.clicks import clicked
from db import audit, evaluations, gallery, images, reviews
from db import runs as runs_db
from db.reviews import ReviewError, add_review
from db.session import database_url
from engine.errors import UserError
from engine.evaluation.metrics import binary_metrics, threshold_free_metrics
from engine.evaluation.thresholds import choose_threshold, parse_threshold_rule

dash.register_page(__name__, path="/errors", name="Errors", order=1, title="CXR Lens · Errors",
                   role="viewer")


PAGE_SIZE = 48
SORT_OPTIONS = [
    {"label": "Most confident first", "value": "confident_first"},
    {"label": "Borderline first", "value": "borderline_first"},
    {"label": "Probability ↑", "value": "probability_asc"},
    {"label": "Probability ↓", "value": "probability_desc"},
    {"label": "Most attention outside the lungs first", "value": "outside_lungs_first"},
]
# Threshold rules, spelt as everywhere else (engine/evaluation/thresholds.py), with their button
# labels.
PRESETS = (("fixed:0.5", "0.5"), ("youden", "Youden on val"),
           ("sensitivity:0.95", "Sensitivity ≥ 0.95 on val"))
POPULATION_OPTIONS = [
    {"label": "All images", "value": "all"},
    {"label": "Outside the training population", "value": "outside"},
    {"label": "Inside it", "value": "inside"},
]


def _cell_button(cell: str) -> dbc.Button:
    return dbc.Button(views.cell_label(cell, 0, 0), id={"type": ids.ERR_CELL, "cell": cell},
                      color=views.CELL_COLORS[cell], outline=cell in ("tn", "tp"),
                      className="cxr-cell", n_clicks=0)


def _confusion_grid() -> html.Div:
    header = html.Tr([html.Th(""), html.Th("Predicted NORMAL", className="text-center"),
                      html.Th("Predicted PNEUMONIA", className="text-center")])
    rows = [html.Tr([html.Th("Actually NORMAL", className="align-middle"),
                     html.Td(_cell_button("tn")), html.Td(_cell_button("fp"))]),
            html.Tr([html.Th("Actually PNEUMONIA", className="align-middle"),
                     html.Td(_cell_button("fn")), html.Td(_cell_button("tp"))])]
    suspects = html.Tr([html.Th("Right for the wrong reason?", className="align-middle"),
                        html.Td(dbc.Button(
                            [html.Span("Shortcut suspects"),
                             html.Small("correct, CAM mostly outside the lungs",
                                        className="d-block")],
                            id=ids.ERR_SUSPECTS, color="info", outline=True, n_clicks=0,
                            className="cxr-cell", style={"minHeight": "60px"}),
                            colSpan=2)])
    return html.Table([html.Thead(header), html.Tbody([*rows, suspects])], className="w-100",
                      id="confusion-matrix")


def _controls(runs: list, view: state.ErrorsView, splits: list[str]) -> dbc.Card:
    return dbc.Card(dbc.CardBody(dbc.Row([
        dbc.Col([dbc.Label("Run"), dcc.Dropdown(
            id=ids.ERR_RUN, value=view.run_id, clearable=False,
            options=[{"label": run.label, "value": run.id} for run in runs])], md=4),
        dbc.Col([dbc.Label("Split"), dbc.RadioItems(
            id=ids.ERR_SPLIT, value=view.split, inline=True,
            options=[{"label": split, "value": split} for split in splits])], md=2),
        dbc.Col([dbc.Label("Threshold on P(pneumonia)"), dcc.Slider(
            id=ids.ERR_THRESHOLD, min=0, max=1, step=0.0001, value=view.threshold,
            marks={value: f"{value:g}" for value in (0, 0.25, 0.5, 0.75, 1)},
            tooltip={"placement": "bottom", "always_visible": False},
            allow_direct_input=True, updatemode="mouseup"),
            html.Div([dbc.Button(label, id={"type": ids.ERR_PRESET, "rule": rule}, size="sm",
                                 color="secondary", outline=True, className="me-1 mt-1")
                      for rule, label in PRESETS])], md=6),
    ], className="g-3")), className="cxr-card mb-3")


def layout(**query: str) -> html.Div:
    runs = runs_db.run_summaries()
    if not runs:
        return html.Div([views.empty_state("evaluated runs"), label_queue.section()])
    view = state.errors_view(query, runs)
    splits = evaluations.evaluation_splits(view.run_id)
    return html.Div([
        dcc.Store(id=ids.ERR_SELECTED_CELL, data=view.cell),
        dcc.Store(id=ids.ERR_SELECTED_IMAGE, data=view.image_id),
        dcc.Store(id=ids.ERR_CHOSEN, data=list(view.chosen)),
        dcc.Store(id=ids.ERR_URL_SYNC),
        dcc.Store(id=ids.ERR_SLICE, data=view.slice),
        html.Div([html.H3("Error analysis", className="d-inline"),
                  html.Span(id=ids.ERR_RUN_BADGES)], className="mb-2"),
        _controls(runs, view, splits),
        dbc.Row([
            dbc.Col(dbc.Card(dbc.CardBody(dcc.Graph(id=ids.ERR_ROC, config={
                "displaylogo": False})), className="cxr-card"), lg=4),
            dbc.Col(dbc.Card(dbc.CardBody([
                html.H6("Confusion matrix — click a cell to see its images"),
                _confusion_grid(),
                html.Div(id=ids.ERR_METRICS, className="mt-3"),
            ]), className="cxr-card"), lg=8),
        ], className="g-3"),
        slices_view.errors_card(view.slice),
        dbc.Card([
            dbc.CardHeader(dbc.Row([
                dbc.Col(html.H6(id=ids.ERR_GALLERY_TITLE, className="mb-0 mt-2"), md=4),
                dbc.Col(dcc.Dropdown(id=ids.ERR_SORT, value=view.sort,
                                     clearable=False, options=SORT_OPTIONS), md=3),
                dbc.Col(dbc.Switch(id=ids.ERR_OVERLAY, label="Grad-CAM overlay", value=False,
                                   className="mt-2"), md=2),
                dbc.Col(dbc.Pagination(id=ids.ERR_PAGE, max_value=1, active_page=1,
                                       fully_expanded=False, size="sm",
                                       className="mb-0 mt-1 justify-content-end"), md=3),
                dbc.Col([html.Small("Only images with at least this share of the Grad-CAM "
                                    "outside the lungs (0 = no filter)",
                                    className="text-muted"),
                         dcc.Slider(id=ids.ERR_OUTSIDE, min=0, max=1, step=0.05,
                                    value=view.min_outside, updatemode="mouseup",
                                    marks={v: f"{v:.0%}" for v in (0, 0.25, 0.5, 0.75, 1)},
                                    tooltip={"placement": "bottom"})], md=8),
                dbc.Col([html.Small("Typicality check (distance to the training images)",
                                    className="text-muted"),
                         dbc.RadioItems(id=ids.ERR_POPULATION, value=view.population,
                                        options=POPULATION_OPTIONS, inline=True)], md=4),
            ], className="g-2")),
            dbc.CardBody(dcc.Loading(html.Div(id=ids.ERR_GALLERY), delay_show=300)),
        ], className="cxr-card mt-3"),
        html.Div(id=ids.ERR_DETAIL),
        label_queue.section(),
    ])


@callback(Output(ids.ERR_SPLIT, "options"), Output(ids.ERR_SPLIT, "value"),
          Output(ids.ERR_THRESHOLD, "value", allow_duplicate=True),
          Output(ids.ERR_SELECTED_IMAGE, "data", allow_duplicate=True),
          Input(ids.ERR_RUN, "value"), State(ids.ERR_SPLIT, "value"),
          prevent_initial_call=True)
def change_run(run_id: int, split: str):
    """A new run: its splits, and its own operating threshold."""
    run = runs_db.find_run(run_id)
    splits = evaluations.evaluation_splits(run_id)
    if run is None or not splits:
        raise PreventUpdate
    options = [{"label": name, "value": name} for name in splits]
    return options, split if split in splits else splits[-1], round(run.threshold, 4), None


@callback(Output(ids.ERR_THRESHOLD, "value", allow_duplicate=True),
          Input({"type": ids.ERR_PRESET, "rule": ALL}, "n_clicks"),
          State(ids.ERR_RUN, "value"), prevent_initial_call=True)
def apply_preset(_clicks: list, run_id: int) -> float:
    rule = clicked("rule")
    name, value = parse_threshold_rule(rule)
    if name == "fixed":
        return value
    evaluation_id = evaluations.evaluation_id_for(run_id, "val")
    if evaluation_id is None:
        raise UserError(f"run {run_id} has no val evaluation to choose a threshold on")
    scored = evaluations.evaluation_arrays(evaluation_id)
    probability, labels = scored.probability, scored.true_label
    chosen, _ = choose_threshold(rule, labels, probability)
    return round(chosen, 4)


@lru_cache(maxsize=256)
def _threshold_free(url: str, evaluation_id: int) -> dict:
    """AUC, PR AUC, Brier and ECE of a completed (so unchanging) evaluation, per database."""
    scored = evaluations.evaluation_arrays(evaluation_id)
    probability, labels = scored.probability, scored.true_label
    return threshold_free_metrics(labels, probability)


@callback(Output({"type": ids.ERR_CELL, "cell": ALL}, "children"),
          Output(ids.ERR_METRICS, "children"), Output(ids.ERR_ROC, "figure"),
          Output(ids.ERR_RUN_BADGES, "children"),
          Input(ids.ERR_RUN, "value"), Input(ids.ERR_SPLIT, "value"),
          Input(ids.ERR_THRESHOLD, "value"))
def recompute(run_id: int, split: str, threshold: float):
    """Cells, metric cards and ROC operating point at the slider's threshold."""
    threshold = state.clamp_threshold(threshold)
    evaluation_id = evaluations.evaluation_id_for(run_id, split)
    if evaluation_id is None:
        raise PreventUpdate
    scored = evaluations.evaluation_arrays(evaluation_id)
    probability, labels = scored.probability, scored.true_label
    metrics = binary_metrics(labels, probability, threshold,
                             free=_threshold_free(database_url(), evaluation_id))
    counts = {"tn": metrics.tn, "fp": metrics.fp, "fn": metrics.fn, "tp": metrics.tp}
    total = len(labels)
    cells = [views.cell_label(output["id"]["cell"], counts[output["id"]["cell"]], total)
             for output in ctx.outputs_list[0]]
    fpr = metrics.fp / (metrics.fp + metrics.tn) if metrics.fp + metrics.tn else 0.0
    roc = figures.roc_with_operating_point(evaluations.evaluation_roc(evaluation_id),
                                           metrics.roc_auc, fpr, metrics.sensitivity, threshold)
    run = runs_db.find_run(run_id)
    badges = [dbc.Badge(f"{split} · {total} images", color="info", className="ms-2"),
              dbc.Badge(f"run threshold {run.threshold:.3f} ({run.threshold_rule})",
                        color="light", text_color="dark", className="ms-1"),
              views.synthetic_badge(run.synthetic)]
    return cells, views.metric_cards(metrics.as_dict()), roc, badges


@callback(Output(ids.ERR_SELECTED_CELL, "data"), Output(ids.ERR_PAGE, "active_page"),
          Input({"type": ids.ERR_CELL, "cell": ALL}, "n_clicks"), prevent_initial_call=True)
def select_cell(_clicks: list):
    return clicked("cell"), 1


@callback(Output(ids.ERR_SELECTED_CELL, "data", allow_duplicate=True),
          Output(ids.ERR_PAGE, "active_page", allow_duplicate=True),
          Output(ids.ERR_OUTSIDE, "value"), Output(ids.ERR_SORT, "value"),
          Input(ids.ERR_SUSPECTS, "n_clicks"), State(ids.ERR_OUTSIDE, "value"),
          prevent_initial_call=True)
def show_suspects(clicks: int | None, min_outside: float | None):
    """Correct predictions that looked mostly outside the lungs, least lung share first."""
    if not clicks:
        raise PreventUpdate
    return (gallery.SUSPECTS, 1, min_outside or state.SUSPECT_MIN_OUTSIDE,
            "outside_lungs_first")


@callback(Output({"type": ids.ERR_CELL, "cell": ALL}, "className"),
          Output(ids.ERR_SUSPECTS, "className"), Input(ids.ERR_SELECTED_CELL, "data"))
def highlight_cell(selected: str):
    cells = ["cxr-cell" + (" cxr-selected" if output["id"]["cell"] == selected else "")
             for output in ctx.outputs_list[0]]
    return cells, "cxr-cell" + (" cxr-selected" if selected == gallery.SUSPECTS else "")


@callback(Output(ids.ERR_GALLERY, "children"), Output(ids.ERR_GALLERY_TITLE, "children"),
          Output(ids.ERR_PAGE, "max_value"),
          Input(ids.ERR_RUN, "value"), Input(ids.ERR_SPLIT, "value"),
          Input(ids.ERR_THRESHOLD, "value"), Input(ids.ERR_SELECTED_CELL, "data"),
          Input(ids.ERR_SORT, "value"), Input(ids.ERR_PAGE, "active_page"),
          Input(ids.ERR_OVERLAY, "value"), Input(ids.ERR_OUTSIDE, "value"),
          Input(ids.ERR_POPULATION, "value"), Input(ids.ERR_SLICE, "data"),
          State(ids.ERR_SELECTED_IMAGE, "data"), State(ids.ERR_CHOSEN, "data"))
def drill_down(run_id: int, split: str, threshold: float, cell: str, sort: str,
               page: int | None, overlay: bool, min_outside: float | None,
               population: str | None, slice_key: str | None, selected_image: int | None,
               chosen: list | None = None):
    """One page of exactly the images in the selected confusion cell (or the suspects, or
    those chosen on the Map page)."""
    evaluation_id = evaluations.evaluation_id_for(run_id, split)
    if evaluation_id is None or cell not in (*gallery.GALLERY_CELLS, gallery.CHOSEN):
        raise PreventUpdate
    if not files.may_see(images.evaluation_on_uploads(evaluation_id)):
        return dbc.Alert(files.UPLOADS_HIDDEN, color="info"), "", 1
    page = max(int(page or 1), 1)
    if cell == gallery.CHOSEN:
        return map_views.chosen_gallery(evaluation_id, chosen, page, PAGE_SIZE, bool(overlay),
                                        selected_image)
    min_outside = state.clamp_threshold(min_outside, default=0.0)
    population = population if population in gallery.POPULATIONS else "all"
    shown = gallery.cell_images(evaluation_id, cell, state.clamp_threshold(threshold),
                                sort if sort in gallery.SORTS else "confident_first",
                                PAGE_SIZE, (page - 1) * PAGE_SIZE, min_outside, population,
                                slices_view.gallery_filter(run_id, split, slice_key))
    total, items = shown.total, shown.items
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    name = ("Shortcut suspects" if cell == gallery.SUSPECTS
            else f"{views.CELL_TITLES[cell]}s")
    title = [f"{name} ", dbc.Badge(str(total), color="dark", id="gallery-count"),
             html.Small(f"  ≥ {min_outside:.0%} outside the lungs" if min_outside > 0 else "",
                        className="text-muted"),
             html.Small(f"  {population} the training population" if population != "all"
                        else "", className="text-muted"),
             html.Small(slices_view.slice_title(slice_key), className="text-muted",
                        id="gallery-slice"),
             html.Small(f"  page {min(page, pages)} of {pages}", className="text-muted")]
    return views.gallery(items, bool(overlay), selected_image), title, pages


@callback(Output(ids.ERR_SELECTED_IMAGE, "data"),
          Input({"type": ids.ERR_GALLERY_ITEM, "image": ALL}, "n_clicks"),
          prevent_initial_call=True)
def select_image(_clicks: list) -> int:
    return clicked("image")


@callback(Output(ids.ERR_DETAIL, "children"), Input(ids.ERR_SELECTED_IMAGE, "data"),
          Input(ids.ERR_RUN, "value"), Input(ids.ERR_SPLIT, "value"),
          State(ids.ERR_THRESHOLD, "value"))
def image_detail(image_id: int | None, run_id: int, split: str, threshold: float):
    if image_id is None:
        return html.Div("Click an image in the gallery to see it large, with its Grad-CAM, "
                        "every run's probability and the review form.",
                        className="text-muted mt-3")
    if type(image_id) is not int or type(run_id) is not int:
        return dbc.Alert("Pick a run and click an image in the gallery.", color="warning",
                         className="mt-3")
    info = images.image_info(image_id)
    if info is not None and not files.may_see_image(info.id):
        return dbc.Alert(files.UPLOADS_HIDDEN, color="info", className="mt-3")
    if info is None:
        return dbc.Alert(f"Image {image_id} is not in the database.", color="warning",
                         className="mt-3")
    evaluation_id = evaluations.evaluation_id_for(run_id, split)
    prediction = gallery.prediction_for(evaluation_id, info.id) if evaluation_id else None
    predictions = images.image_predictions(info.id)
    if prediction is None and not predictions.empty:
        # A permalink to an image of another split: show this run's prediction from there.
        mine = predictions[predictions.run_id == run_id]
        if not mine.empty:
            prediction = gallery.prediction_for(int(mine.evaluation_id.iloc[-1]), info.id)
    actor = auth.current_actor()
    audit.record(actor, "viewed image", f"image {info.id}", f"run {run_id}, {split}")
    return html.Div([views.image_panel(info, prediction, predictions,
                                       reviews.reviews_for(info.id), run_id,
                                       state.clamp_threshold(threshold),
                                       actor.name if auth.allowed("reviewer") else None,
                                       external=external_view.is_external(run_id)),
                     lookalike_views.for_image(run_id, evaluation_id, info.id)])


@callback(Output(ids.REVIEW_LIST, "children"), Output(ids.REVIEW_STATUS, "children"),
          Output(ids.REVIEW_NOTE, "value"),
          Input(ids.REVIEW_SAVE, "n_clicks"), State(ids.REVIEW_VERDICT, "value"),
          State(ids.REVIEW_NOTE, "value"),
          State(ids.ERR_SELECTED_IMAGE, "data"), State(ids.ERR_RUN, "value"),
          prevent_initial_call=True)
@auth.requires("reviewer")
def save_review(clicks: int | None, verdict: str | None, note: str | None,
                image_id: int | None, run_id: int | None):
    if not clicks or image_id is None:
        raise PreventUpdate
    if not files.may_see_image(int(image_id)):
        return dash.no_update, dbc.Alert(files.UPLOADS_HIDDEN, color="info", className="py-1"), \
            dash.no_update
    try:
        add_review(int(image_id), verdict or "", auth.current_actor(), note or "", run_id)
    except ReviewError as exc:
        return dash.no_update, dbc.Alert(str(exc), color="warning", className="py-1"), \
            dash.no_update
    return (views.review_list(reviews.reviews_for(int(image_id))),
            dbc.Alert("Review saved.", color="success", className="py-1", duration=4000), "")


clientside_callback(
    """function (run, split, threshold, cell, image, outside, sort, population, slice,
                 chosen) {
        const query = new URLSearchParams();
        if (run !== null && run !== undefined) { query.set("run", run); }
        if (split) { query.set("split", split); }
        if (threshold !== null && threshold !== undefined) { query.set("t", threshold); }
        if (cell) { query.set("cell", cell); }
        if (image !== null && image !== undefined) { query.set("image", image); }
        if (outside !== null && outside !== undefined) { query.set("outside", outside); }
        if (sort) { query.set("sort", sort); }
        if (population && population !== "all") { query.set("population", population); }
        if (slice) { query.set("slice", slice); }
        if (cell === "chosen" && chosen && chosen.length) { query.set("ids", chosen.join(",")); }
        window.history.replaceState(null, "", window.location.pathname + "?" + query);
        return query.toString();
    }""",
    Output(ids.ERR_URL_SYNC, "data"),
    Input(ids.ERR_RUN, "value"), Input(ids.ERR_SPLIT, "value"),
    Input(ids.ERR_THRESHOLD, "value"), Input(ids.ERR_SELECTED_CELL, "data"),
    Input(ids.ERR_SELECTED_IMAGE, "data"), Input(ids.ERR_OUTSIDE, "value"),
    Input(ids.ERR_SORT, "value"), Input(ids.ERR_POPULATION, "value"),
    Input(ids.ERR_SLICE, "data"),
    State(ids.ERR_CHOSEN, "data"),
)
