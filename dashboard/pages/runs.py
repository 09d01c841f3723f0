"""Runs: every run in one sortable, filterable, exportable table; selected runs overlaid."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, State, callback, clientside_callback, dash_table, dcc, html
from dash.dash_table.Format import Format, Scheme
from sklearn.metrics import roc_auc_score

from dashboard import figures, ids, stats, views
from dashboard.pages.state import parse_int
from db import queries
from engine.metrics import expected_calibration_error

dash.register_page(__name__, path="/", name="Runs", order=0, title="CXR Lens · Runs")

MAX_OVERLAID = 10
METRIC_LABELS = {"accuracy": "acc", "roc_auc": "AUC", "f1": "F1", "sensitivity": "sens",
                 "specificity": "spec", "ece": "ECE"}
BASE_COLUMNS = (("run_id", "Run", None), ("name", "Name", None), ("arch", "Architecture", None),
                ("status", "Status", None), ("dataset", "Dataset", None),
                ("data_kind", "Data", None), ("image_size", "Image px", None),
                ("batch_size", "Batch", None), ("schedule", "LR schedule", None),
                ("seed", "Seed", None), ("epochs", "Epochs", None),
                ("best_epoch", "Best epoch", None), ("duration_s", "Duration s", 0),
                ("threshold", "Threshold", 3))


def table_columns() -> list[dict]:
    columns = []
    for key, name, digits in BASE_COLUMNS:
        column = {"id": key, "name": name}
        if digits is not None:
            column.update(type="numeric", format=Format(precision=digits, scheme=Scheme.fixed))
        columns.append(column)
    for split in ("val", "test"):
        for metric, label in METRIC_LABELS.items():
            columns.append({"id": f"{split}_{metric}", "name": f"{split} {label}",
                            "type": "numeric", "format": Format(precision=3,
                                                                scheme=Scheme.fixed)})
    return columns


def table_records(table: pd.DataFrame) -> list[dict]:
    """DataTable rows: `id` is the run id (selection survives sorting and filtering)."""
    if table.empty:
        return []
    table = table.assign(id=table.run_id,
                         data_kind=table.synthetic.map({True: "SYNTHETIC", False: "real"}))
    table = table.astype(object).where(table.notna(), None)
    return table.to_dict("records")


def layout(runs: str | None = None, split: str | None = None, **_query: str) -> html.Div:
    if queries.count_runs() == 0:
        return views.empty_state("runs")
    selected = [value for value in (parse_int(part) for part in (runs or "").split(","))
                if value is not None]
    if not selected:  # first visit: the two newest evaluated runs, so the charts say something
        selected = [run.id for run in queries.run_summaries()[:2]]
    return html.Div([
        dcc.Store(id=ids.RUNS_HINT),
        html.Div([html.H3("Runs", className="d-inline"),
                  html.Span(" — select rows to overlay their curves; sort and filter in the "
                            "header; Export writes CSV.", className="text-muted")],
                 className="mb-2"),
        dbc.Card(dbc.CardBody([
            dbc.Button("Refresh", id=ids.RUNS_REFRESH, size="sm", color="secondary",
                       outline=True, className="mb-2"),
            dash_table.DataTable(
                id=ids.RUNS_TABLE, columns=table_columns(), data=[],
                sort_action="native", filter_action="native", sort_mode="multi",
                export_format="csv", export_headers="display", row_selectable="multi",
                selected_row_ids=selected, page_size=15,
                style_table={"overflowX": "auto"},
                style_cell={"fontSize": 13, "padding": "4px 8px", "fontFamily": "inherit"},
                style_header={"fontWeight": 600, "backgroundColor": "#eef2f7"},
                style_data_conditional=[
                    {"if": {"filter_query": '{status} = "failed"'}, "color": "#dc3545"},
                    {"if": {"filter_query": '{data_kind} = "SYNTHETIC"', "column_id":
                            "data_kind"}, "backgroundColor": "#fff3cd"}],
            ),
        ]), className="cxr-card"),
        dbc.Row([dbc.Col(dbc.RadioItems(
            id=ids.RUNS_SPLIT, value=split if split in ("val", "test") else "test", inline=True,
            options=[{"label": f"curves on {name}", "value": name} for name in ("val", "test")]),
            className="mt-3")]),
        dbc.Row([
            dbc.Col(dbc.Card(dcc.Graph(id=ids.RUNS_ROC), className="cxr-card"), lg=6),
            dbc.Col(dbc.Card(dcc.Graph(id=ids.RUNS_PR), className="cxr-card"), lg=6),
            dbc.Col(dbc.Card(dcc.Graph(id=ids.RUNS_TRAINING), className="cxr-card"), lg=6),
            dbc.Col(dbc.Card(dcc.Graph(id=ids.RUNS_CALIBRATION), className="cxr-card"), lg=6),
        ], className="g-3 mt-1"),
    ])


@callback(Output(ids.RUNS_TABLE, "data"), Output(ids.RUNS_TABLE, "selected_rows"),
          Input(ids.RUNS_REFRESH, "n_clicks"), State(ids.RUNS_TABLE, "selected_row_ids"))
def fill_table(_clicks: int | None, selected: list[int] | None):
    """All runs; the checkboxes follow the selected run ids (they index rows, ids don't)."""
    records = table_records(queries.runs_table())
    chosen = set(selected or [])
    return records, [index for index, row in enumerate(records) if row["id"] in chosen]


def run_curves(run_ids: list[int], split: str) -> tuple[list, list, list]:
    """ROC, PR and reliability points of each run's newest evaluation of `split`."""
    roc, pr, calibration = [], [], []
    names = {run.id: run.label for run in queries.run_summaries(only_evaluated=False)}
    for run_id in run_ids:
        evaluation_id = queries.evaluation_id_for(run_id, split)
        if evaluation_id is None:
            continue
        probability, labels = queries.evaluation_arrays(evaluation_id)
        name = names.get(run_id, f"run {run_id}")
        points = queries.evaluation_roc(evaluation_id) or stats.roc_curve_points(labels,
                                                                                probability)
        if points:
            roc.append({"name": name, "fpr": points["fpr"], "tpr": points["tpr"],
                        "auc": float(roc_auc_score(labels, probability))})
        pr_points = stats.pr_curve_points(labels, probability)
        if pr_points:
            pr.append({"name": name, **pr_points})
        calibration.append({"name": name, **stats.reliability_points(labels, probability),
                            "ece": expected_calibration_error(labels, probability)})
    return roc, pr, calibration


@callback(Output(ids.RUNS_ROC, "figure"), Output(ids.RUNS_PR, "figure"),
          Output(ids.RUNS_TRAINING, "figure"), Output(ids.RUNS_CALIBRATION, "figure"),
          Input(ids.RUNS_TABLE, "selected_row_ids"), Input(ids.RUNS_SPLIT, "value"))
def overlay_selected(selected: list[int] | None, split: str):
    run_ids = sorted(selected or [])[:MAX_OVERLAID]
    roc, pr, calibration = run_curves(run_ids, split)
    names = {run.id: run.label for run in queries.run_summaries(only_evaluated=False)}
    epochs = queries.epochs_for(run_ids) if run_ids else pd.DataFrame(
        columns=["run_id", "epoch"])
    return (figures.roc_overlay(roc), figures.pr_overlay(pr),
            figures.training_curves(epochs, names) if run_ids
            else figures.empty_figure("Select runs to compare their training curves"),
            figures.calibration_overlay(calibration))


clientside_callback(
    """function (selected, split) {
        const query = new URLSearchParams();
        if (selected && selected.length) { query.set("runs", selected.join(",")); }
        if (split) { query.set("split", split); }
        window.history.replaceState(null, "", window.location.pathname + "?" + query);
        return query.toString();
    }""",
    Output(ids.RUNS_HINT, "data"),
    Input(ids.RUNS_TABLE, "selected_row_ids"), Input(ids.RUNS_SPLIT, "value"),
)
