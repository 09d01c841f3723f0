"""Pure figure builders shared by the dashboard and the report: plain data in, `go.Figure` out.

No database and no callbacks: dashboard/figures.py and dashboard/shift_view.py import these for
their pages, engine/report/ for the offline report (the engine never imports the dashboard).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

TEMPLATE = "plotly_white"
PALETTE = ("#0d6efd", "#d63384", "#198754", "#fd7e14", "#6f42c1", "#20c997", "#dc3545",
           "#0dcaf0", "#6c757d", "#ffc107")
CHANCE_LINE = {"dash": "dot", "color": "#adb5bd", "width": 1}


def layout(figure: go.Figure, title: str, height: int = 340, **axes: dict) -> go.Figure:
    figure.update_layout(template=TEMPLATE, title={"text": title, "x": 0.01, "font_size": 15},
                         height=height, margin={"l": 50, "r": 15, "t": 45, "b": 45},
                         legend={"font_size": 11}, **axes)
    return figure


def empty_figure(message: str, height: int = 300) -> go.Figure:
    figure = go.Figure()
    figure.add_annotation(text=message, showarrow=False, font={"size": 14, "color": "#6c757d"},
                          xref="paper", yref="paper", x=0.5, y=0.5)
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    return layout(figure, "", height)


def roc_overlay(curves: list[dict]) -> go.Figure:
    """curves: [{"name", "fpr", "tpr", "auc"}]; the AUC goes in the legend."""
    if not curves:
        return empty_figure("Select runs in the table to overlay their ROC curves")
    figure = go.Figure()
    figure.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line=CHANCE_LINE, name="chance",
                       hoverinfo="skip", showlegend=False)
    for index, curve in enumerate(curves):
        auc = curve.get("auc")
        figure.add_scatter(x=curve["fpr"], y=curve["tpr"], mode="lines",
                           line={"color": PALETTE[index % len(PALETTE)], "width": 2},
                           name=f"{curve['name']} (AUC {auc:.3f})" if auc is not None
                           else curve["name"])
    return layout(figure, "ROC", xaxis={"title": "False positive rate", "range": [0, 1]},
                   yaxis={"title": "True positive rate (sensitivity)", "range": [0, 1.02]})


def calibration_overlay(curves: list[dict]) -> go.Figure:
    """curves: [{"name", "mean_predicted", "fraction_positive", "ece"}]."""
    if not curves:
        return empty_figure("Select runs to compare their calibration")
    figure = go.Figure()
    figure.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line=CHANCE_LINE,
                       name="perfectly calibrated")
    for index, curve in enumerate(curves):
        ece = curve.get("ece")
        figure.add_scatter(x=curve["mean_predicted"], y=curve["fraction_positive"],
                           mode="lines+markers",
                           line={"color": PALETTE[index % len(PALETTE)], "width": 2},
                           name=f"{curve['name']} (ECE {ece:.3f})" if ece is not None
                           else curve["name"])
    return layout(figure, "Reliability diagram",
                   xaxis={"title": "Mean predicted P(pneumonia)", "range": [0, 1]},
                   yaxis={"title": "Fraction actually pneumonia", "range": [0, 1.02]})



SHIFT_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def probability_histograms(series: list[dict]) -> go.Figure:
    """Overlaid histograms of P(pneumonia), each series {"name", "values"}, as shares."""
    series = [item for item in series if len(item["values"])]
    if not series:
        return empty_figure("No external evaluation yet: cxr evaluate RUN --data DIR")
    figure = go.Figure()
    for index, item in enumerate(series):
        figure.add_trace(go.Histogram(
            x=np.asarray(item["values"], dtype=float), name=item["name"], opacity=0.55,
            histnorm="probability", xbins={"start": 0.0, "end": 1.0, "size": 0.05},
            marker_color=SHIFT_PALETTE[index % len(SHIFT_PALETTE)]))
    figure.update_layout(barmode="overlay", height=320, margin={"l": 50, "r": 20, "t": 40,
                                                                  "b": 40},
                         title="P(pneumonia): val against external data",
                         xaxis_title="P(pneumonia)", yaxis_title="share of images",
                         legend={"orientation": "h", "y": -0.25})
    return figure
