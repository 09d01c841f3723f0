"""Slices on the Errors and Compare pages: where a run is worst, where two runs differ.

The numbers come from engine/evaluation/slices.py (and slice_compare.py); this module builds
the two tables, keeps the Errors page's chosen slice (a click filters the gallery through the
page's URL, `?slice=`), and says plainly what the store cannot slice by.
"""

from __future__ import annotations

from urllib.parse import urlencode

import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, callback, dcc, html
from dash.exceptions import PreventUpdate

from dashboard import auth, ids
from dashboard import url_state as state
from dashboard.clicks import clicked
from engine.errors import UserError
from engine.evaluation.slice_compare import compare_run_slices
from engine.evaluation.slices import (
    MIN_SLICE_SIZE,
    SliceDifference,
    SliceStat,
    parse_key,
    run_slices,
    slice_image_ids,
)

MAX_ROWS = 15
MAX_MIN_SIZE = 100_000


def _rule(min_size: int) -> str:
    return (f"A finding: at least {min_size} images and the 95% bootstrap interval (1,000 "
            "seeded resamples) wholly below the whole's accuracy. Smaller slices are listed "
            "greyed, never as findings.")


def min_size_value(value: object) -> int:
    """The minimum slice size typed in the box; the default for anything that is not one."""
    try:
        number = int(float(str(value)))
    except (TypeError, ValueError, OverflowError):
        return MIN_SLICE_SIZE
    return number if 1 <= number <= MAX_MIN_SIZE else MIN_SLICE_SIZE


def _min_size_box(component_id: str) -> dbc.InputGroup:
    return dbc.InputGroup([dbc.InputGroupText("Minimum slice size"),
                           dbc.Input(id=component_id, type="number", min=1, max=MAX_MIN_SIZE,
                                     step=1, value=MIN_SLICE_SIZE, debounce=True)],
                          size="sm")


def errors_card(selected: str | None) -> dbc.Card:
    return dbc.Card([
        dbc.CardHeader(dbc.Row([
            dbc.Col(html.H6("Slices — where this run is worst (click one to filter the "
                            "gallery)", className="mb-0 mt-1"), md=6),
            dbc.Col(_min_size_box(ids.ERR_SLICE_MIN), md=3),
            dbc.Col(dbc.Button("Clear slice filter", id=ids.ERR_SLICE_CLEAR, size="sm",
                               color="secondary", outline=True, n_clicks=0,
                               disabled=selected is None), md=3, className="text-end"),
        ])),
        dbc.CardBody(dcc.Loading(html.Div(id=ids.ERR_SLICES))),
    ], className="cxr-card mt-3")


def _interval(value: float, low: float, high: float, signed: bool = False) -> str:
    spec = "+.3f" if signed else ".3f"
    return f"{value:{spec}} [{low:{spec}}, {high:{spec}}]"


def _unavailable(lines: list[str]) -> html.Div | None:
    if not lines:
        return None
    return html.Div([html.Small("Not sliced: ", className="fw-bold"),
                     html.Small("; ".join(lines) + ".")],
                    className="text-muted small mt-2", id="slices-unavailable")


def _slice_button(stat: SliceStat, selected: str | None) -> dbc.Button:
    return dbc.Button(stat.label, id={"type": ids.ERR_SLICE_ROW, "slice": stat.key},
                      color="link", size="sm", n_clicks=0,
                      className="p-0 text-start" + (" fw-bold" if stat.key == selected else ""))


def errors_table(stats: list[SliceStat], whole_accuracy: float, selected: str | None) -> list:
    shown = stats[:MAX_ROWS]
    head = html.Thead(html.Tr([html.Th("Slice"), html.Th("Images"), html.Th("Errors"),
                               html.Th("Accuracy [95% CI]"), html.Th("Below the whole"),
                               html.Th("")]))
    rows = [html.Tr([
        html.Td(_slice_button(stat, selected)), html.Td(str(stat.size)),
        html.Td(str(stat.errors)), html.Td(_interval(stat.accuracy, stat.low, stat.high)),
        html.Td(f"{stat.gap:+.3f}"),
        html.Td(dbc.Badge("finding", color="danger") if stat.finding
                else (html.Small("too small", className="text-muted")
                      if not stat.enough else "")),
    ], className="slice-row" + (" text-muted" if not stat.enough else "")
        + (" table-active" if stat.key == selected else "")) for stat in shown]
    note = (f"first {MAX_ROWS} of {len(stats)} slices; `cxr slices RUN --csv` lists all"
            if len(stats) > MAX_ROWS else f"{len(stats)} slices")
    return [html.Small(f"Whole split: accuracy {whole_accuracy:.3f}; {note}.",
                       className="text-muted"),
            dbc.Table([head, html.Tbody(rows)], size="sm", hover=True, id="slices-table")]


@callback(Output(ids.ERR_SLICES, "children"), Input(ids.ERR_RUN, "value"),
          Input(ids.ERR_SPLIT, "value"), Input(ids.ERR_THRESHOLD, "value"),
          Input(ids.ERR_SLICE, "data"), Input(ids.ERR_SLICE_MIN, "value"))
@auth.requires("viewer")
def errors_slices(run_id: int, split: str, threshold: float, selected: str | None,
                  min_size: object):
    """The run's slices on this split at the slider's threshold, most below the whole first."""
    min_size = min_size_value(min_size)
    try:
        report = run_slices(int(run_id), split, state.clamp_threshold(threshold), min_size)
    except (UserError, TypeError, ValueError) as error:
        return dbc.Alert(f"No slices: {error}", color="info")
    rule = html.Small(_rule(min_size), className="text-muted")
    if not report.slices:
        return [dbc.Alert("Nothing to slice by in this store: every attribute is missing or "
                          "the same for all images.", color="info"),
                _unavailable(report.unavailable), rule]
    return [*errors_table(report.slices, report.accuracy, selected),
            _unavailable(report.unavailable), rule]


@callback(Output(ids.ERR_SLICE, "data"), Output(ids.ERR_PAGE, "active_page",
                                                allow_duplicate=True),
          Input({"type": ids.ERR_SLICE_ROW, "slice": ALL}, "n_clicks"),
          prevent_initial_call=True)
@auth.requires("viewer")
def choose_slice(_clicks: list):
    key = clicked("slice")
    if parse_key(key) is None:
        raise PreventUpdate
    return key, 1


@callback(Output(ids.ERR_SLICE, "data", allow_duplicate=True),
          Output(ids.ERR_PAGE, "active_page", allow_duplicate=True),
          Input(ids.ERR_SLICE_CLEAR, "n_clicks"), prevent_initial_call=True)
@auth.requires("viewer")
def clear_slice(clicks: int | None):
    if not clicks:
        raise PreventUpdate
    return None, 1


@callback(Output(ids.ERR_SLICE_CLEAR, "disabled"), Input(ids.ERR_SLICE, "data"))
@auth.requires("viewer")
def clear_enabled(selected: str | None) -> bool:
    return selected is None


def gallery_filter(run_id: int, split: str, key: object) -> list[int] | None:
    """The image ids the gallery keeps for the chosen slice; None when no slice is chosen."""
    if parse_key(key) is None:
        return None
    return slice_image_ids(int(run_id), split, key)


def slice_title(key: object) -> str:
    chosen = parse_key(key)
    return "" if chosen is None else "  in slice " + " & ".join(
        f"{name} = {value}" for name, value in chosen.items())


def compare_card() -> dbc.Card:
    return dbc.Card(dbc.CardBody([
        dbc.Row([dbc.Col(html.H6("Slices where the two runs differ most (B − A accuracy, each "
                                 "at its own threshold)"), md=9),
                 dbc.Col(_min_size_box(ids.CMP_SLICE_MIN), md=3)]),
        dcc.Loading(html.Div(id=ids.CMP_SLICES)),
    ]), className="cxr-card mt-3")


def _compare_rule(min_size: int) -> html.Small:
    return html.Small(f"Differs: at least {min_size} images, the 95% paired bootstrap interval "
                      "of B − A excludes 0 and McNemar's exact test on the flips gives "
                      "p < 0.05. Attributes (the typicality flag too) are run A's.",
                      className="text-muted")


def compare_table(rows: list[SliceDifference], run_a: int, split: str) -> dbc.Table:
    head = html.Thead(html.Tr([html.Th("Slice"), html.Th("Images"), html.Th("A"),
                               html.Th("B"), html.Th("B − A [95% CI]"),
                               html.Th("A right, B wrong"), html.Th("A wrong, B right"),
                               html.Th("McNemar p"), html.Th("")]))
    body = [html.Tr([
        html.Td(dcc.Link(row.label, href="/errors?" + urlencode(
            {"run": run_a, "split": split, "slice": row.key}))),
        html.Td(str(row.size)), html.Td(f"{row.accuracy_a:.3f}"),
        html.Td(f"{row.accuracy_b:.3f}"), html.Td(_interval(row.delta, row.low, row.high, True)),
        html.Td(str(row.a_right_b_wrong)), html.Td(str(row.a_wrong_b_right)),
        html.Td(f"{row.p_value:.3g}"),
        html.Td(dbc.Badge("differs", color="warning", text_color="dark") if row.differs
                else (html.Small("too small", className="text-muted")
                      if not row.enough else "")),
    ], className="compare-slice-row" + (" text-muted" if not row.enough else ""))
        for row in rows[:MAX_ROWS]]
    return dbc.Table([head, html.Tbody(body)], size="sm", hover=True, id="compare-slices-table")


@callback(Output(ids.CMP_SLICES, "children"), Input(ids.CMP_RUN_A, "value"),
          Input(ids.CMP_RUN_B, "value"), Input(ids.CMP_SPLIT, "value"),
          Input(ids.CMP_SLICE_MIN, "value"))
@auth.requires("viewer")
def compare_slices(run_a: int, run_b: int, split: str, min_size: object):
    min_size = min_size_value(min_size)
    try:
        comparison = compare_run_slices(int(run_a), int(run_b), split, min_size)
    except (UserError, TypeError, ValueError) as error:
        return dbc.Alert(f"No slices to compare: {error}", color="info")
    if not comparison.slices:
        return [dbc.Alert("Nothing to slice by: every attribute is missing or the same for all "
                          "images.", color="info"), _unavailable(comparison.unavailable),
                _compare_rule(min_size)]
    return [html.Small(f"{comparison.size} paired images.", className="text-muted"),
            compare_table(comparison.slices, run_a, split),
            _unavailable(comparison.unavailable), _compare_rule(min_size)]
