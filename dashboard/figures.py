"""Pure figure builders: plain data in, `go.Figure` (or its plain JSON, on hot paths) out.

No database, no callbacks.
"""

from __future__ import annotations

from functools import lru_cache

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from db.models import LABEL_NAMES
from engine.report.figures import (  # noqa: F401 - the pages read them from here
    CHANCE_LINE,
    PALETTE,
    TEMPLATE,
    calibration_overlay,
    empty_figure,
    roc_overlay,
)
from engine.report.figures import layout as _layout


def pr_overlay(curves: list[dict]) -> go.Figure:
    """curves: [{"name", "recall", "precision", "average_precision"}]."""
    if not curves:
        return empty_figure("Select runs to overlay precision-recall curves")
    figure = go.Figure()
    for index, curve in enumerate(curves):
        figure.add_scatter(x=curve["recall"], y=curve["precision"], mode="lines",
                           line={"color": PALETTE[index % len(PALETTE)], "width": 2},
                           name=f"{curve['name']} (AP {curve['average_precision']:.3f})")
    return _layout(figure, "Precision-recall (positive = pneumonia)",
                   xaxis={"title": "Recall (sensitivity)", "range": [0, 1]},
                   yaxis={"title": "Precision", "range": [0, 1.02]})


def training_curves(epochs: pd.DataFrame, names: dict[int, str]) -> go.Figure:
    """Loss (train solid, val dashed) and val AUC per epoch, one colour per run."""
    if epochs.empty:
        return empty_figure("No epochs recorded for the selected runs")
    figure = make_subplots(rows=1, cols=2, subplot_titles=("Loss", "Validation AUC"),
                           horizontal_spacing=0.1)
    for index, (run_id, frame) in enumerate(epochs.groupby("run_id", sort=True)):
        color = PALETTE[index % len(PALETTE)]
        name = names.get(run_id, f"run {run_id}")
        figure.add_scatter(x=frame.epoch, y=frame.train_loss, mode="lines+markers",
                           line={"color": color}, name=f"{name} train", legendgroup=name,
                           row=1, col=1)
        figure.add_scatter(x=frame.epoch, y=frame.val_loss, mode="lines+markers",
                           line={"color": color, "dash": "dash"}, name=f"{name} val",
                           legendgroup=name, row=1, col=1)
        figure.add_scatter(x=frame.epoch, y=frame.val_auc, mode="lines+markers",
                           line={"color": color}, name=f"{name} val AUC", legendgroup=name,
                           showlegend=False, row=1, col=2)
    figure.update_xaxes(title_text="Epoch", dtick=1)
    return _layout(figure, "Training curves", height=360)


@lru_cache(maxsize=1)
def _template() -> dict:
    return pio.templates[TEMPLATE].to_plotly_json()


def roc_with_operating_point(roc: dict | None, auc: float | None, fpr: float, tpr: float,
                             threshold: float) -> dict | go.Figure:
    """The Errors page's ROC with the slider's operating point.

    It is redrawn on every slider move, so it is built as the figure's plain JSON (what Dash
    sends anyway): a go.Figure validates and deep-copies its template on each build, which
    cost more than every database read of the callback together.
    """
    if not roc:
        return empty_figure("No ROC curve: this split holds only one class")
    data = [
        {"type": "scatter", "x": [0, 1], "y": [0, 1], "mode": "lines", "line": CHANCE_LINE,
         "hoverinfo": "skip", "showlegend": False},
        {"type": "scatter", "x": roc["fpr"], "y": roc["tpr"], "mode": "lines", "name": "ROC",
         "customdata": roc.get("thresholds"), "line": {"color": PALETTE[0], "width": 2},
         "hovertemplate": "FPR %{x:.3f}<br>TPR %{y:.3f}<br>threshold %{customdata:.3f}"
                          "<extra></extra>"},
        {"type": "scatter", "x": [fpr], "y": [tpr], "mode": "markers",
         "name": f"threshold {threshold:.3f}",
         "marker": {"size": 13, "color": "#dc3545", "line": {"width": 2, "color": "white"}}},
    ]
    title = f"ROC (AUC {auc:.3f})" if auc is not None else "ROC"
    layout = {"template": _template(), "title": {"text": title, "x": 0.01, "font": {"size": 15}},
              "height": 330, "margin": {"l": 50, "r": 15, "t": 45, "b": 45},
              "legend": {"font": {"size": 11}}, "showlegend": False,
              "xaxis": {"title": {"text": "False positive rate"}, "range": [0, 1]},
              "yaxis": {"title": {"text": "Sensitivity"}, "range": [0, 1.02]}}
    return {"data": data, "layout": layout}


def class_balance(balance: pd.DataFrame) -> go.Figure:
    """balance: subset, label, images (summed over subtypes)."""
    if balance.empty:
        return empty_figure("This split has no images")
    frame = balance.groupby(["subset", "label"], as_index=False)["images"].sum()
    figure = go.Figure()
    for label, name, color in ((0, LABEL_NAMES[0], PALETTE[0]), (1, LABEL_NAMES[1], PALETTE[6])):
        part = frame[frame.label == label].set_index("subset").reindex(["train", "val", "test"])
        figure.add_bar(x=part.index, y=part.images.fillna(0), name=name, marker_color=color,
                       text=part.images.fillna(0).astype(int), textposition="auto")
    return _layout(figure, "Images per split and class", barmode="group",
                   yaxis={"title": "Images"})


def subtype_breakdown(balance: pd.DataFrame) -> go.Figure:
    pneumonia = balance[balance.label == 1].copy()
    if pneumonia.empty:
        return empty_figure("No pneumonia images")
    pneumonia["subtype"] = pneumonia.subtype.fillna("unknown")
    figure = go.Figure()
    for index, (subtype, part) in enumerate(pneumonia.groupby("subtype")):
        part = part.set_index("subset").reindex(["train", "val", "test"])
        figure.add_bar(x=part.index, y=part.images.fillna(0), name=subtype,
                       marker_color=PALETTE[(index + 2) % len(PALETTE)])
    return _layout(figure, "Pneumonia subtypes per split", barmode="stack",
                   yaxis={"title": "Images"})


# --- Attention and robustness ----------------------------------------------------------------

def lung_share_histogram(series: list[dict]) -> go.Figure:
    """series: [{"name", "values"}]: lung share of each prediction, one overlaid histogram per run.

    Normalised to a share of each run's predictions, so runs of different sizes compare.
    """
    series = [item for item in series if len(item["values"])]
    if not series:
        return empty_figure("No CAM lung shares stored for the selected runs")
    figure = go.Figure()
    for index, item in enumerate(series):
        figure.add_histogram(x=list(item["values"]), name=item["name"], histnorm="percent",
                             xbins={"start": 0, "end": 1.0001, "size": 0.05}, opacity=0.55,
                             marker_color=PALETTE[index % len(PALETTE)])
    return _layout(figure, "Lung share of CAM energy (right = looks at the lungs)",
                   barmode="overlay", xaxis={"title": "Lung share", "range": [0, 1]},
                   yaxis={"title": "% of predictions"})


AGREEMENT_COLORS = {"right-right": "#adb5bd", "right-wrong": PALETTE[3],
                    "wrong-right": PALETTE[4], "wrong-wrong": PALETTE[6]}


def attention_scatter(pairs: pd.DataFrame, name_a: str, name_b: str) -> go.Figure:
    """pairs: image_id, lung_share_a, lung_share_b, agreement (cell name): one dot per image."""
    pairs = pairs.dropna(subset=["lung_share_a", "lung_share_b"])
    if pairs.empty:
        return empty_figure("No CAM lung shares stored for these runs")
    figure = go.Figure()
    figure.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line=CHANCE_LINE, hoverinfo="skip",
                       showlegend=False)
    for cell, color in AGREEMENT_COLORS.items():
        part = pairs[pairs.agreement == cell]
        if part.empty:
            continue
        figure.add_scatter(x=part.lung_share_a, y=part.lung_share_b, mode="markers",
                           name=cell.replace("-", " / "), customdata=part.image_id,
                           marker={"color": color, "size": 7, "opacity": 0.8},
                           hovertemplate="image #%{customdata}<br>A %{x:.2f}<br>B %{y:.2f}"
                                         "<extra></extra>")
    _layout(figure, "Lung share per image, A vs B (above the diagonal: B looks more at the "
                    "lungs)", height=380,
            xaxis={"title": f"A: {name_a}", "range": [0, 1]},
            yaxis={"title": f"B: {name_b}", "range": [0, 1]})
    return figure.update_layout(legend_title_text="A / B right or wrong")


SHIFT_METRICS = (("auc", "AUC"), ("sensitivity", "Sensitivity"), ("specificity", "Specificity"))


def shift_chart(tables: list[dict]) -> go.Figure:
    """tables: [{"name", "table"}] from db.robustness.shift_table; clean val ("none") first."""
    tables = [item for item in tables if not item["table"].empty
              and (item["table"]["shift"] != "none").any()]
    if not tables:
        return empty_figure("No robustness checks for the selected runs: "
                            "cxr evaluate RUN --shift all")
    figure = make_subplots(rows=1, cols=len(SHIFT_METRICS), shared_yaxes=False,
                           subplot_titles=[title for _, title in SHIFT_METRICS],
                           horizontal_spacing=0.06)
    for index, item in enumerate(tables):
        table = item["table"]
        table = pd.concat([table[table["shift"] == "none"], table[table["shift"] != "none"]])
        labels = ["clean val" if shift == "none" else shift for shift in table["shift"]]
        for column, (metric, _) in enumerate(SHIFT_METRICS, start=1):
            figure.add_scatter(x=labels, y=table[metric], mode="lines+markers",
                               name=item["name"], legendgroup=item["name"],
                               showlegend=column == 1,
                               line={"color": PALETTE[index % len(PALETTE)], "width": 2},
                               row=1, col=column)
    figure.update_xaxes(tickangle=-45)
    return _layout(figure, "Robustness: val under acquisition shifts (each at the run's own "
                           "threshold rule)", height=400)
