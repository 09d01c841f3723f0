"""Clicks on pattern-matching components ({"type": ..., key: ...} ids), shared by the pages."""

from __future__ import annotations

from dash import ctx
from dash.exceptions import PreventUpdate


def clicked(key: str) -> object:
    """The `key` of the component whose click fired this callback. Rendering a list of such
    components fires the callback too, with no click (n_clicks None or 0): no update then."""
    if not ctx.triggered or not ctx.triggered[0]["value"]:
        raise PreventUpdate
    return ctx.triggered_id[key]
