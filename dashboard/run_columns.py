"""The Runs table's column chooser: DataTable's own "Toggle Columns" menu, remembered in the URL
(`?cols=` lists the visible columns when they differ from the defaults) like the rest of the
page's state. Both callbacks run in the browser: they only move columns in and out of view."""

from __future__ import annotations

from dash import Input, Output, State, clientside_callback, dcc

from dashboard import ids
from dashboard.runs_table import SPLITS, default_visible


def defaults_store() -> dcc.Store:
    """The default visible columns per split, for the callbacks below."""
    return dcc.Store(id=ids.RUNS_COLUMN_DEFAULTS,
                     data={split: default_visible(split) for split in SPLITS})


# Another split chosen: each visible metric of the other split gives way to the same metric of
# this one (a column shown for both splits stays shown).
clientside_callback(
    """function (split, hidden, columns) {
        const all = (columns || []).map(function (c) { return c.id; });
        const shown = new Set(all.filter(function (id) {
            return (hidden || []).indexOf(id) < 0; }));
        const next = new Set(shown);
        shown.forEach(function (id) {
            const match = /^(val|test)_(.+)$/.exec(id);
            if (match && match[1] !== split) {
                const mine = split + "_" + match[2];
                if (!shown.has(mine) && all.indexOf(mine) >= 0) {
                    next.delete(id); next.add(mine);
                }
            }
        });
        const hide = all.filter(function (id) { return !next.has(id); });
        if (JSON.stringify(hide) === JSON.stringify(hidden || [])) {
            return window.dash_clientside.no_update;
        }
        return hide;
    }""",
    Output(ids.RUNS_TABLE, "hidden_columns"),
    Input(ids.RUNS_SPLIT, "value"), State(ids.RUNS_TABLE, "hidden_columns"),
    State(ids.RUNS_TABLE, "columns"),
)

# The chosen columns into the URL (only when they differ from the split's defaults), leaving
# the page's other query parameters as they are.
clientside_callback(
    """function (hidden, split, columns, defaults) {
        const shown = (columns || []).map(function (c) { return c.id; }).filter(function (id) {
            return (hidden || []).indexOf(id) < 0; });
        const usual = ((defaults || {})[split] || []).slice().sort();
        const query = new URLSearchParams(window.location.search);
        if (JSON.stringify(shown.slice().sort()) === JSON.stringify(usual)) {
            query.delete("cols");
        } else {
            query.set("cols", shown.join(","));
        }
        window.history.replaceState(null, "", window.location.pathname + "?" + query);
        return query.toString();
    }""",
    Output(ids.RUNS_COLUMNS_HINT, "data"),
    Input(ids.RUNS_TABLE, "hidden_columns"), Input(ids.RUNS_SPLIT, "value"),
    State(ids.RUNS_TABLE, "columns"), State(ids.RUNS_COLUMN_DEFAULTS, "data"),
)
