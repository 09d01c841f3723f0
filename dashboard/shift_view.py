"""The shift view: how far an evaluation on an external folder sits from val.

Pure builders (no queries): the probability histograms of val and each external set overlaid,
and a table of val beside the external evaluations with the share of images outside the
training population and the drift statistics (PSI, KS) stored per evaluation.
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
from dash import html

from engine.report.figures import probability_histograms  # noqa: F401 - the Runs page's


def _format(value: object, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _sample_beside_val(table: pd.DataFrame) -> pd.DataFrame:
    """Val first, then a site-calibrated run's calibration sample, then the rest."""
    if "calibration_sample" not in table:
        return table
    order = table.split.ne("val") * 2 - table.calibration_sample.fillna(False).astype(int)
    return table.assign(_order=order).sort_values("_order", kind="stable")


def _data_label(row: object) -> str:
    if row.split == "val":
        return "val"
    if getattr(row, "calibration_sample", False):
        return f"calibration sample (in-sample): {row.dataset}"
    return f"external: {row.dataset}"


def external_table(name: str, table: pd.DataFrame, origin: str = "") -> html.Div:
    """One run's val beside its external evaluations (drift is NULL for val itself)."""
    title = [html.H6(name, className="mt-2 d-inline")]
    if origin:
        title.append(dbc.Badge(origin, color="warning", className="ms-2 transductive-badge"))
    if table.empty or not (table.split == "external").any():
        return html.Div([*title, html.Div("no external evaluation yet (cxr evaluate RUN --data "
                                          "DIR)", className="text-muted small")])
    rows = [html.Tr([
        html.Td(_data_label(row), className="fw-semibold" if row.split == "val" else None),
        html.Td(str(row.n_images)), html.Td(_format(row.auc)), html.Td(_format(row.specificity)),
        html.Td(_format(row.sensitivity)), html.Td(_format(row.ece)),
        html.Td(_format(row.outside_share)), html.Td(_format(row.drift_psi)),
        html.Td(_format(row.drift_ks))]) for row in _sample_beside_val(table).itertuples()]
    head = html.Thead(html.Tr([html.Th(h) for h in (
        "Data", "Images", "AUC", "Spec", "Sens", "ECE", "Outside population", "PSI", "KS")]))
    return html.Div([*title, dbc.Table([head, html.Tbody(rows)], size="sm", striped=True,
                                       className="external-table mb-2")])
