"""Compare two runs on the same images: agreement matrix, flipped images, metric deltas."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import numpy as np
from dash import ALL, Input, Output, callback, clientside_callback, ctx, dcc, html
from dash.exceptions import PreventUpdate

from dashboard import external_view, figures, files, ids, report_files, slices_view, views
from dashboard.clicks import clicked
from dashboard.url_state import pick_run
from db import evaluations, images
from db import runs as runs_db
from db.models import LABEL_NAMES
from engine.evaluation import stats

dash.register_page(__name__, path="/compare", name="Compare", order=2,
                   title="CXR Lens · Compare", role="viewer")

CELLS = ("right-right", "right-wrong", "wrong-right", "wrong-wrong")
CELL_TEXT = {"right-right": "both right", "right-wrong": "A right, B wrong",
             "wrong-right": "A wrong, B right", "wrong-wrong": "both wrong"}
MAX_FLIPS = 60


def _cell(cell: str) -> dbc.Button:
    flipped = cell in ("right-wrong", "wrong-right")
    return dbc.Button(CELL_TEXT[cell], id={"type": ids.CMP_CELL, "cell": cell}, n_clicks=0,
                      color="warning" if flipped else "secondary", outline=not flipped,
                      className="cxr-cell")


def layout(a: str | None = None, b: str | None = None, split: str | None = None,
           cell: str | None = None, **_query: str) -> html.Div:
    runs = runs_db.run_summaries()
    if len(runs) < 2:
        return views.empty_state("pair of evaluated runs" if runs else "evaluated runs")
    run_a, run_b = pick_run(a, runs, 1), pick_run(b, runs, 0)
    options = [{"label": run.label, "value": run.id} for run in runs]
    header = html.Tr([html.Th(""), html.Th("B right", className="text-center"),
                      html.Th("B wrong", className="text-center")])
    matrix = html.Table([html.Thead(header), html.Tbody([
        html.Tr([html.Th("A right"), html.Td(_cell("right-right")),
                 html.Td(_cell("right-wrong"))]),
        html.Tr([html.Th("A wrong"), html.Td(_cell("wrong-right")),
                 html.Td(_cell("wrong-wrong"))])])], className="w-100", id=ids.CMP_MATRIX)
    return html.Div([
        dcc.Store(id=ids.CMP_SELECTED_CELL, data=cell if cell in CELLS else "right-wrong"),
        dcc.Store(id=ids.CMP_URL_SYNC),
        html.Div([html.H3("Compare two runs", className="d-inline"),
                  report_files.download_button(ids.CMP_REPORT, [run_a, run_b], split)]),
        dbc.Card(dbc.CardBody(dbc.Row([
            dbc.Col([dbc.Label("Run A"), dcc.Dropdown(id=ids.CMP_RUN_A, options=options,
                                                      value=run_a, clearable=False)], md=5),
            dbc.Col([dbc.Label("Run B"), dcc.Dropdown(id=ids.CMP_RUN_B, options=options,
                                                      value=run_b, clearable=False)], md=5),
            dbc.Col([dbc.Label("Split"), dbc.RadioItems(
                id=ids.CMP_SPLIT, value=split if split in ("val", "test") else "test",
                inline=True, options=[{"label": s, "value": s} for s in ("val", "test")])],
                md=2),
        ])), className="cxr-card mb-3"),
        dbc.Row([
            dbc.Col(dbc.Card(dbc.CardBody([
                html.H6("Agreement, each run at its own threshold — click a cell"), matrix,
            ]), className="cxr-card"), lg=5),
            dbc.Col(dbc.Card(dbc.CardBody([
                html.H6("Metric deltas (B − A)"), dcc.Loading(html.Div(id=ids.CMP_DELTAS)),
            ]), className="cxr-card"), lg=7),
        ], className="g-3"),
        dbc.Card(dbc.CardBody([
            dcc.Loading(dcc.Graph(id=ids.CMP_ATTENTION)),
            html.Div(id=ids.CMP_ATTENTION_SUMMARY, className="small"),
        ]), className="cxr-card mt-3"),
        slices_view.compare_card(),
        dbc.Card(dbc.CardBody(dcc.Loading(html.Div(id=ids.CMP_FLIPS))),
                 className="cxr-card mt-3"),
    ])


def _paired(run_a: int, run_b: int, split: str):
    evaluation_a = evaluations.evaluation_id_for(run_a, split)
    evaluation_b = evaluations.evaluation_id_for(run_b, split)
    if evaluation_a is None or evaluation_b is None:
        return None
    if not all(files.may_see(images.evaluation_on_uploads(e)) for e in (evaluation_a,
                                                                        evaluation_b)):
        return None  # scored uploads: their pairs show their pixels
    summary_a, summary_b = runs_db.find_run(run_a), runs_db.find_run(run_b)
    return summary_a, summary_b, evaluations.paired_predictions(evaluation_a, evaluation_b)


def _masks(pairs, summary_a, summary_b) -> dict[str, np.ndarray]:
    labels = pairs.true_label.to_numpy()
    return stats.agreement_cells(labels, pairs.probability_a.to_numpy() >= summary_a.threshold,
                                 pairs.probability_b.to_numpy() >= summary_b.threshold)


@callback(Output({"type": ids.CMP_CELL, "cell": ALL}, "children"),
          Output(ids.CMP_DELTAS, "children"),
          Input(ids.CMP_RUN_A, "value"), Input(ids.CMP_RUN_B, "value"),
          Input(ids.CMP_SPLIT, "value"))
def agreement(run_a: int, run_b: int, split: str):
    found = _paired(run_a, run_b, split)
    blank = [CELL_TEXT[o["id"]["cell"]] for o in ctx.outputs_list[0]]
    if found is None:
        return blank, dbc.Alert(f"One of the runs has no {split} evaluation.", color="info")
    summary_a, summary_b, pairs = found
    if pairs.empty:
        return blank, dbc.Alert("These runs share no images on this split (different "
                                "datasets or splits): nothing to compare.", color="info")
    masks = _masks(pairs, summary_a, summary_b)
    cells = [[html.Span(CELL_TEXT[o["id"]["cell"]]),
              html.Span(str(int(masks[o["id"]["cell"]].sum())), className="cxr-cell-count")]
             for o in ctx.outputs_list[0]]
    deltas = stats.bootstrap_deltas(pairs.true_label.to_numpy(), pairs.probability_a.to_numpy(),
                                    summary_a.threshold, pairs.probability_b.to_numpy(),
                                    summary_b.threshold)
    note = html.Small(f"{len(pairs)} paired images, 1,000 paired bootstrap resamples; A at "
                      f"{summary_a.threshold:.3f}, B at {summary_b.threshold:.3f}.",
                      className="text-muted")
    return cells, [views.delta_table(deltas, summary_a.name, summary_b.name), note]


def _lung(share: float | None) -> str:
    return "" if share is None or np.isnan(share) else f", lung share {share:.0%}"


@callback(Output(ids.CMP_ATTENTION, "figure"), Output(ids.CMP_ATTENTION_SUMMARY, "children"),
          Input(ids.CMP_RUN_A, "value"), Input(ids.CMP_RUN_B, "value"),
          Input(ids.CMP_SPLIT, "value"))
def attention_difference(run_a: int, run_b: int, split: str):
    """Where the two runs look on the same images: lung share A against B, per image."""
    found = _paired(run_a, run_b, split)
    if found is None or found[2].empty:
        return figures.empty_figure("No paired images to compare attention on"), []
    summary_a, summary_b, pairs = found
    if summary_a.is_external or summary_b.is_external:
        return figures.empty_figure(f"{external_view.NO_MODEL}: no attention to compare"), []
    pairs = pairs.assign(agreement=stats.agreement_labels(_masks(pairs, summary_a, summary_b)))
    return (figures.attention_scatter(pairs, summary_a.name, summary_b.name),
            views.attention_difference(pairs))


@callback(Output(ids.CMP_SELECTED_CELL, "data"),
          Input({"type": ids.CMP_CELL, "cell": ALL}, "n_clicks"), prevent_initial_call=True)
def select_cell(_clicks: list) -> str:
    return clicked("cell")


def _cam_cell(run: runs_db.RunInfo, prediction_id: float) -> html.Td:
    if run.is_external:
        return html.Td(external_view.no_cam())
    return html.Td(html.Img(src=f"/attention/lung-outline/{int(prediction_id)}", height=120))


@callback(Output(ids.CMP_FLIPS, "children"), Input(ids.CMP_SELECTED_CELL, "data"),
          Input(ids.CMP_RUN_A, "value"), Input(ids.CMP_RUN_B, "value"),
          Input(ids.CMP_SPLIT, "value"))
def flips(cell: str, run_a: int, run_b: int, split: str):
    found = _paired(run_a, run_b, split)
    if found is None or cell not in CELLS:
        raise PreventUpdate
    summary_a, summary_b, pairs = found
    chosen = pairs[_masks(pairs, summary_a, summary_b)[cell]] if not pairs.empty else pairs
    rows = [html.Tr([
        html.Td(html.Img(src=f"/files/thumb/{row.image_id}", height=120)),
        # Each CAM with the lung outline its lung share is measured against.
        _cam_cell(summary_a, row.prediction_id_a), _cam_cell(summary_b, row.prediction_id_b),
        html.Td([html.Div(f"#{row.image_id} · {LABEL_NAMES[int(row.true_label)]}"),
                 html.Div(f"A: P = {row.probability_a:.3f}{_lung(row.lung_share_a)}"),
                 html.Div(f"B: P = {row.probability_b:.3f}{_lung(row.lung_share_b)}"),
                 dcc.Link("open in Errors", href=f"/errors?run={run_a}&split={split}"
                                                 f"&image={row.image_id}")]),
    ], className="flip-row") for row in chosen.head(MAX_FLIPS).itertuples()]
    title = html.H6(f"{CELL_TEXT[cell]}: {len(chosen)} images"
                    + (f" (first {MAX_FLIPS} shown)" if len(chosen) > MAX_FLIPS else ""))
    if not rows:
        return [title, html.Div("No images in this cell.", className="text-muted")]
    head = html.Thead(html.Tr([html.Th("Original"), html.Th(f"Grad-CAM A: {summary_a.name}"),
                               html.Th(f"Grad-CAM B: {summary_b.name}"), html.Th("")]))
    return [title, dbc.Table([head, html.Tbody(rows)], size="sm", id="flip-table")]


clientside_callback(
    """function (a, b, split, cell) {
        const query = new URLSearchParams({a: a, b: b, split: split, cell: cell});
        window.history.replaceState(null, "", window.location.pathname + "?" + query);
        return query.toString();
    }""",
    Output(ids.CMP_URL_SYNC, "data"), Input(ids.CMP_RUN_A, "value"),
    Input(ids.CMP_RUN_B, "value"), Input(ids.CMP_SPLIT, "value"),
    Input(ids.CMP_SELECTED_CELL, "data"),
)
