"""Runs: every run in one sortable, filterable, exportable table; selected runs overlaid."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, State, callback, clientside_callback, ctx, dash_table, dcc, html
from sklearn.metrics import roc_auc_score

from dashboard import auth, figures, ids, report_files, shift_view, site_calibration_view, views
from dashboard.alias_views import aliases_card
from dashboard.run_columns import defaults_store
from dashboard.runs_table import (
    SPLITS,
    cached_table_rows,
    clear_table_cache,
    health_tooltips,
    hidden_columns,
    table_columns,
)
from dashboard.url_state import parse_int
from db import attention, evaluations, robustness, run_table, shift
from db import runs as runs_db
from db.site_calibration import site_calibrations
from engine.evaluation import stats
from engine.evaluation.metrics import expected_calibration_error

dash.register_page(__name__, path="/", name="Runs", order=0, title="CXR Lens · Runs",
                   role="viewer")

MAX_OVERLAID = 10

def _title() -> html.Div:
    return html.Div([html.H3("Runs", className="d-inline"),
                     html.Span(" — select rows to overlay their curves; sort and filter in the "
                               "header; Toggle Columns shows the configuration; Export writes "
                               "CSV.", className="text-muted")], className="mb-2")


def layout(runs: str | None = None, split: str | None = None, cols: str | None = None,
           **_query: str) -> html.Div:
    if runs_db.count_runs() == 0:
        return views.empty_state("runs")
    selected = [value for value in (parse_int(part) for part in (runs or "").split(","))
                if value is not None]
    if not selected:  # first visit: the two newest evaluated runs, so the charts say something
        selected = [run.id for run in runs_db.run_summaries()[:2]]
    split = split if split in SPLITS else "test"
    return html.Div([
        dcc.Store(id=ids.RUNS_HINT), dcc.Store(id=ids.RUNS_COLUMNS_HINT), defaults_store(),
        _title(),
        dbc.Card(dbc.CardBody([
            dbc.Button("Refresh", id=ids.RUNS_REFRESH, size="sm", color="secondary",
                       outline=True, className="mb-2"),
            report_files.download_button(ids.RUNS_REPORT, selected, split),
            dash_table.DataTable(
                id=ids.RUNS_TABLE, columns=table_columns(split), data=[],
                hidden_columns=hidden_columns(split, cols),
                sort_action="native", filter_action="native", sort_mode="multi",
                export_format="csv", export_headers="display", row_selectable="multi",
                selected_row_ids=selected, page_size=15,
                style_table={"overflowX": "auto"},
                style_cell={"fontSize": 13, "padding": "4px 8px", "fontFamily": "inherit"},
                style_header={"fontWeight": 600, "backgroundColor": "#eef2f7"},
                style_data_conditional=[
                    {"if": {"filter_query": '{status} = "failed"'}, "color": "#dc3545"},
                    {"if": {"filter_query": '{arch} = "ensemble"'},
                     "backgroundColor": "#eef4ff"},
                    {"if": {"filter_query": '{data_kind} = "SYNTHETIC"', "column_id":
                            "data_kind"}, "backgroundColor": "#fff3cd"},
                    {"if": {"filter_query": '{health} contains "⚠"', "column_id": "health"},
                     "backgroundColor": "#fff3cd", "color": "#8a5300", "fontWeight": 600}],
                tooltip_duration=None,
            ),
        ]), className="cxr-card"),
        aliases_card(runs_db.run_summaries(only_evaluated=False), auth.allowed("admin")),
        dbc.Row([dbc.Col(dbc.RadioItems(
            id=ids.RUNS_SPLIT, value=split, inline=True,
            options=[{"label": f"curves and CAM figures on {name}", "value": name}
                     for name in SPLITS]), className="mt-3")]),
        _figure_grid(),
    ])


def _figure_grid() -> dbc.Row:
    """The curves, calibration, shift and external-data figures below the table."""
    return dbc.Row([
        dbc.Col(dbc.Card(dcc.Graph(id=ids.RUNS_ROC), className="cxr-card"), lg=6),
        dbc.Col(dbc.Card(dcc.Graph(id=ids.RUNS_PR), className="cxr-card"), lg=6),
        dbc.Col(dbc.Card(dcc.Graph(id=ids.RUNS_TRAINING), className="cxr-card"), lg=6),
        dbc.Col(dbc.Card(dcc.Graph(id=ids.RUNS_CALIBRATION), className="cxr-card"), lg=6),
        dbc.Col(dbc.Card(dcc.Graph(id=ids.RUNS_LUNG_HISTOGRAM), className="cxr-card"),
                lg=6),
        dbc.Col(dbc.Card(dbc.CardBody([
            html.H6("Calibration and threshold"), html.Div(id=ids.RUNS_CALIBRATION_TABLE)]),
            className="cxr-card"), lg=6),
        dbc.Col(dbc.Card(dcc.Graph(id=ids.RUNS_SHIFT), className="cxr-card"), lg=12),
        dbc.Col(dbc.Card(dbc.CardBody(html.Div(id=ids.RUNS_SHIFT_TABLES)),
                         className="cxr-card"), lg=12),
        dbc.Col(dbc.Card(dcc.Graph(id=ids.RUNS_EXTERNAL_HISTOGRAM), className="cxr-card"),
                lg=6),
        dbc.Col(dbc.Card(dbc.CardBody([html.H6("External data beside val"),
                                       html.Div(id=ids.RUNS_EXTERNAL_TABLES)]),
                         className="cxr-card"), lg=6),
    ], className="g-3 mt-1")


# The navbar calls this page "Runs", so /runs (with its query) is this page too; the shell
# leaves the alias out of the navbar (nav=False).
dash.register_page(f"{__name__}.alias", path="/runs", name="Runs", layout=layout, nav=False,
                   title="CXR Lens · Runs", role="viewer")


@callback(Output(ids.RUNS_TABLE, "data"), Output(ids.RUNS_TABLE, "selected_rows"),
          Output(ids.RUNS_TABLE, "columns"), Output(ids.RUNS_TABLE, "tooltip_data"),
          Input(ids.RUNS_REFRESH, "n_clicks"), Input(ids.RUNS_SPLIT, "value"),
          State(ids.RUNS_TABLE, "selected_row_ids"))
def fill_table(clicks: int | None, split: str | None, selected: list[int] | None):
    """All runs; the checkboxes follow the selected run ids (they index rows, ids don't).
    A Health badge's tooltip holds the run's full health warning."""
    split = split if split in SPLITS else "test"
    if clicks and ctx.triggered_id == ids.RUNS_REFRESH:
        attention.clear_attention_cache()  # e.g. after `cxr road` added ROAD scores
        clear_table_cache()
    records = cached_table_rows(split)
    chosen = set(selected or [])
    return (records, [index for index, row in enumerate(records) if row["id"] in chosen],
            table_columns(split), health_tooltips(records))


def run_curves(run_ids: list[int], split: str) -> tuple[list, list, list]:
    """ROC, PR and reliability points of each run's newest evaluation of `split`."""
    roc, pr, calibration = [], [], []
    names = {run.id: run.label for run in runs_db.run_summaries(only_evaluated=False)}
    for run_id in run_ids:
        evaluation_id = evaluations.evaluation_id_for(run_id, split)
        if evaluation_id is None:
            continue
        scored = evaluations.evaluation_arrays(evaluation_id)
        probability, labels = scored.probability, scored.true_label
        name = names.get(run_id, f"run {run_id}")
        points = evaluations.evaluation_roc(evaluation_id) or stats.roc_curve_points(labels,
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
    names = {run.id: run.label for run in runs_db.run_summaries(only_evaluated=False)}
    epochs = runs_db.epochs_for(run_ids) if run_ids else pd.DataFrame(
        columns=["run_id", "epoch"])
    return (figures.roc_overlay(roc), figures.pr_overlay(pr),
            figures.training_curves(epochs, names) if run_ids
            else figures.empty_figure("Select runs to compare their training curves"),
            figures.calibration_overlay(calibration))


@callback(Output(ids.RUNS_LUNG_HISTOGRAM, "figure"), Output(ids.RUNS_SHIFT, "figure"),
          Output(ids.RUNS_SHIFT_TABLES, "children"),
          Output(ids.RUNS_CALIBRATION_TABLE, "children"),
          Input(ids.RUNS_TABLE, "selected_row_ids"), Input(ids.RUNS_SPLIT, "value"))
def quality_of_selected(selected: list[int] | None, split: str):
    """Lung-share histograms, robustness checks and calibration of the selected runs."""
    run_ids = sorted(selected or [])[:MAX_OVERLAID]
    names = {run.id: run.label for run in runs_db.run_summaries(only_evaluated=False)}
    shares = []
    for run_id in run_ids:
        evaluation_id = evaluations.evaluation_id_for(run_id, split)
        if evaluation_id is not None:
            shares.append({"name": names.get(run_id, f"run {run_id}"),
                           "values": attention.lung_shares(evaluation_id).lung_share})
    tables = [{"name": names.get(run_id, f"run {run_id}"),
               "table": robustness.shift_table(run_id)} for run_id in run_ids]
    shift_tables = ([views.shift_table(item["name"], item["table"]) for item in tables]
                    or html.Div("Select runs to see their robustness checks.",
                                className="text-muted"))
    table = run_table.runs_table(run_ids) if run_ids else pd.DataFrame()
    return (figures.lung_share_histogram(shares), figures.shift_chart(tables), shift_tables,
            views.calibration_table(table))


@callback(Output(ids.RUNS_EXTERNAL_HISTOGRAM, "figure"),
          Output(ids.RUNS_EXTERNAL_TABLES, "children"), Input(ids.RUNS_TABLE, "selected_row_ids"))
def external_of_selected(selected: list[int] | None):
    """The shift view: val beside external evaluations, histograms of the first three runs."""
    run_ids = sorted(selected or [])[:MAX_OVERLAID]
    names = {run.id: run.label for run in runs_db.run_summaries(only_evaluated=False)}
    origins, calibrated = shift.run_origins(run_ids), site_calibrations(run_ids)
    series, tables = [], []
    for run_id in run_ids:
        table = shift.external_evaluations(run_id)
        tables.append(shift_view.external_table(
            names.get(run_id, f"run {run_id}"), table,
            origins[run_id].label if run_id in origins else ""))
        if run_id in calibrated:
            tables.append(site_calibration_view.trust_note(calibrated[run_id]))
        if len(series) < 6 and (table.split == "external").any():
            series += [{"name": f"#{run_id} " + ("val" if row.split == "val" else row.dataset),
                        "values": shift.evaluation_scores(row.evaluation_id).probability}
                       for row in table.itertuples()]
    return shift_view.probability_histograms(series), tables or html.Div(
        "Select runs to see them on external data.", className="text-muted")


clientside_callback(
    """function (selected, split) {
        const query = new URLSearchParams(window.location.search);
        query.delete("runs");
        if (selected && selected.length) { query.set("runs", selected.join(",")); }
        if (split) { query.set("split", split); }
        window.history.replaceState(null, "", window.location.pathname + "?" + query);
        return query.toString();
    }""",
    Output(ids.RUNS_HINT, "data"),
    Input(ids.RUNS_TABLE, "selected_row_ids"), Input(ids.RUNS_SPLIT, "value"),
)
