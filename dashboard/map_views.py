"""The feature map's pure parts: what a point can be coloured by, the WebGL scatter, and the
gallery of the images chosen on it.

Each colouring is one row of COLOURINGS: a label, a function from the map's frame
(db.feature_map.MAP_COLUMNS) and the threshold to each point's category, and the categories'
colours in legend order. One more colouring (a suspected label error, say) is one more row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from dash import html

from dashboard import url_state as state
from dashboard import views
from db import gallery
from db.models import LABEL_NAMES, REVIEW_VERDICTS

NOT_REVIEWED = "not reviewed"
UNKNOWN = "unknown"
OTHER = "#7f7f7f"


def _cells(frame: pd.DataFrame, threshold: float) -> pd.Series:
    positive = frame.probability >= threshold
    truth = frame.true_label == 1
    names = np.select([~truth & ~positive, ~truth & positive, truth & ~positive],
                      [views.CELL_TITLES["tn"], views.CELL_TITLES["fp"],
                       views.CELL_TITLES["fn"]], views.CELL_TITLES["tp"])
    return pd.Series(names, index=frame.index)


def _subtypes(frame: pd.DataFrame, _threshold: float) -> pd.Series:
    subtype = frame.subtype.where(frame.subtype.notna(), UNKNOWN)
    return subtype.where(frame.true_label == 1, LABEL_NAMES[0].lower())


def _outside(frame: pd.DataFrame, _threshold: float) -> pd.Series:
    flag = frame.outside_population.map({True: "outside", False: "inside"})
    return flag.where(flag.notna(), UNKNOWN)


def _verdicts(frame: pd.DataFrame, _threshold: float) -> pd.Series:
    return frame.verdict.where(frame.verdict.notna(), NOT_REVIEWED)


@dataclass(frozen=True)
class Colouring:
    label: str
    categories: Callable[[pd.DataFrame, float], pd.Series]
    # category -> colour, in legend and drawing order: the rarer, telling ones last, on top
    colours: dict[str, str]
    uses_threshold: bool = False


COLOURINGS: dict[str, Colouring] = {
    "cell": Colouring("Confusion cell (at the threshold)", _cells, {
        views.CELL_TITLES["tn"]: "#2c7fb8", views.CELL_TITLES["tp"]: "#41ab5d",
        views.CELL_TITLES["fp"]: "#fd8d3c", views.CELL_TITLES["fn"]: "#d7301f"}, True),
    "label": Colouring("True label", lambda frame, _t: frame.true_label.map(
        dict(enumerate(LABEL_NAMES))), {LABEL_NAMES[0]: "#2c7fb8", LABEL_NAMES[1]: "#d7301f"}),
    "subtype": Colouring("Subtype", _subtypes, {
        "normal": "#2c7fb8", "bacteria": "#d7301f", "virus": "#984ea3", UNKNOWN: "#999999"}),
    "outside": Colouring("Outside the training population", _outside, {
        "inside": "#9ecae1", UNKNOWN: "#999999", "outside": "#e41a1c"}),
    "verdict": Colouring("Review verdict", _verdicts, {
        NOT_REVIEWED: "#cccccc", **dict(zip(REVIEW_VERDICTS, (
            "#e41a1c", "#ff7f00", "#984ea3", "#4daf4a"), strict=True))}),
}
DEFAULT_COLOURING = "cell"


def colour_options() -> list[dict]:
    return [{"label": colouring.label, "value": key} for key, colouring in COLOURINGS.items()]


def map_figure(frame: pd.DataFrame, colour_by: str, threshold: float,
               revision: object) -> go.Figure:
    """One WebGL trace per category (so the legend toggles it); a point's customdata is its
    image id. `revision` keeps zoom and selection while only the colours change."""
    colouring = COLOURINGS.get(colour_by, COLOURINGS[DEFAULT_COLOURING])
    categories = colouring.categories(frame, threshold)
    figure = go.Figure()
    # A category the table does not name (a new subtype, say) is drawn too, in grey.
    extra = sorted(set(categories.dropna().astype(str)) - set(colouring.colours))
    for category, colour in [*colouring.colours.items(), *((name, OTHER) for name in extra)]:
        shown = frame[categories == category]
        figure.add_trace(go.Scattergl(
            # Coordinates travel as float32 binary arrays; ids as a plain list, so a selection
            # and a click hand back integers.
            x=shown.x.to_numpy(np.float32), y=shown.y.to_numpy(np.float32),
            customdata=[int(image_id) for image_id in shown.image_id], mode="markers",
            name=f"{category} ({len(shown)})", marker={"size": 5, "color": colour,
                                                       "opacity": 0.8},
            hovertemplate="image %{customdata}<extra>" + category + "</extra>"))
    figure.update_layout(
        template="plotly_white", height=620, dragmode="lasso", uirevision=str(revision),
        margin={"l": 10, "r": 10, "t": 30, "b": 10}, legend={"title": colouring.label},
        title={"text": f"{len(frame)} images, coloured by {colouring.label.lower()}",
               "font": {"size": 14}},
        xaxis={"showticklabels": False, "title": None, "zeroline": False},
        yaxis={"showticklabels": False, "title": None, "zeroline": False})
    return figure


def chosen_gallery(evaluation_id: int, chosen: list | None, page: int, page_size: int,
                   overlay: bool, selected_image: int | None) -> tuple:
    """The Errors gallery's (tiles, title, pages) for the images chosen on the Map page."""
    from dashboard.url_state import chosen_ids

    image_ids = list(chosen_ids(",".join(str(item) for item in chosen or [])))
    shown = gallery.chosen_images(evaluation_id, image_ids, page_size,
                                  (page - 1) * page_size)
    pages = max((shown.total + page_size - 1) // page_size, 1)
    title = ["Chosen on the map ", dbc.Badge(str(shown.total), color="dark",
                                             id="gallery-count"),
             html.Small(f"  page {min(page, pages)} of {pages}", className="text-muted")]
    return views.gallery(shown.items, overlay, selected_image), title, pages


def chosen_points(selected: dict | None) -> tuple[list[int], int]:
    """The image ids to open (capped by url_state), and how many distinct ones were selected (a
    point selected twice counts once)."""
    points = (selected or {}).get("points") if isinstance(selected, dict) else None
    if not isinstance(points, list):
        return [], 0
    found = dict.fromkeys(point.get("customdata") for point in points if isinstance(point, dict))
    distinct = [item for item in found
                if isinstance(item, int) and not isinstance(item, bool) and item > 0]
    chosen = list(state.chosen_ids(",".join(str(item) for item in distinct)))
    return chosen, len(distinct)
