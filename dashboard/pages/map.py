"""Map: one point per image of an evaluation, placed by the run's penultimate features.

Coloured by confusion cell (at the threshold slider, like the Errors page's matrix), label,
subtype, the typicality flag or the review verdict (dashboard/map_views.py). A lasso or box
selection offers those images in the Errors gallery; a click opens one image's detail there.
"""

from __future__ import annotations

from urllib.parse import urlencode

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, clientside_callback, dcc, html
from dash.exceptions import PreventUpdate

from dashboard import files, ids, map_views, views
from dashboard import url_state as state
from db import evaluations, feature_map, images
from db import runs as runs_db
from engine.evaluation import advice

dash.register_page(__name__, path="/map", name="Map", order=2, title="CXR Lens · Map",
                   role="viewer")


def _view(query: dict, runs: list) -> tuple[int, str, str, float]:
    run_id = state.pick_run(query.get("run"), runs)
    run = next(run for run in runs if run.id == run_id)
    splits = evaluations.evaluation_splits(run_id)
    split = query.get("split")
    if split not in splits:
        split = "test" if "test" in splits else (splits[0] if splits else "val")
    colour = (query.get("colour") if query.get("colour") in map_views.COLOURINGS
              else map_views.DEFAULT_COLOURING)
    threshold = state.clamp_threshold(query.get("t"), default=round(run.threshold, 4))
    return run_id, split, colour, threshold


def layout(**query: str) -> html.Div:
    runs = runs_db.run_summaries()
    if not runs:
        return views.empty_state("evaluated runs")
    run_id, split, colour, threshold = _view(query, runs)
    splits = evaluations.evaluation_splits(run_id)
    return html.Div([
        dcc.Location(id=ids.MAP_GO, refresh=True),
        dcc.Store(id=ids.MAP_URL_SYNC),
        html.H3("What the model sees"),
        dbc.Card(dbc.CardBody(dbc.Row([
            dbc.Col([dbc.Label("Run"), dcc.Dropdown(
                id=ids.MAP_RUN, value=run_id, clearable=False,
                options=[{"label": run.label, "value": run.id} for run in runs])], md=3),
            dbc.Col([dbc.Label("Split"), dbc.RadioItems(
                id=ids.MAP_SPLIT, value=split, inline=True,
                options=[{"label": name, "value": name} for name in splits])], md=2),
            dbc.Col([dbc.Label("Colour by"), dcc.Dropdown(
                id=ids.MAP_COLOUR, value=colour, clearable=False,
                options=map_views.colour_options())], md=3),
            dbc.Col([dbc.Label("Threshold on P(pneumonia)"), dcc.Slider(
                id=ids.MAP_THRESHOLD, min=0, max=1, step=0.0001, value=threshold,
                marks={value: f"{value:g}" for value in (0, 0.25, 0.5, 0.75, 1)},
                tooltip={"placement": "bottom"}, updatemode="mouseup")], md=4),
        ], className="g-3")), className="cxr-card mb-3"),
        html.Div(id=ids.MAP_NOTE, className="small text-muted mb-2"),
        html.Div(id=ids.MAP_SELECTION, className="mb-2"),
        dbc.Card(dbc.CardBody(dcc.Graph(id=ids.MAP_GRAPH, config={
            "displaylogo": False, "scrollZoom": True}, figure={})), className="cxr-card"),
    ])


@callback(Output(ids.MAP_SPLIT, "options"), Output(ids.MAP_SPLIT, "value"),
          Output(ids.MAP_THRESHOLD, "value"), Input(ids.MAP_RUN, "value"),
          State(ids.MAP_SPLIT, "value"), prevent_initial_call=True)
def change_run(run_id: int, split: str):
    run = runs_db.find_run(run_id)
    splits = evaluations.evaluation_splits(run_id) if run else []
    if not splits:
        raise PreventUpdate
    return ([{"label": name, "value": name} for name in splits],
            split if split in splits else splits[-1], round(run.threshold, 4))


@callback(Output(ids.MAP_GRAPH, "figure"), Output(ids.MAP_NOTE, "children"),
          Input(ids.MAP_RUN, "value"), Input(ids.MAP_SPLIT, "value"),
          Input(ids.MAP_COLOUR, "value"), Input(ids.MAP_THRESHOLD, "value"))
def draw(run_id: int, split: str, colour: str, threshold: float):
    evaluation_id = evaluations.evaluation_id_for(run_id, split)
    if evaluation_id is None:
        raise PreventUpdate
    if not files.may_see(images.evaluation_on_uploads(evaluation_id)):
        return {}, dbc.Alert(files.UPLOADS_HIDDEN, color="info")
    info = feature_map.feature_map(evaluation_id)
    if info is None:
        return {}, dbc.Alert(
            "This evaluation has no feature map: "
            + advice.missing_map(runs_db.get_run(run_id), split) + ".", color="info",
            className="cxr-map-missing")
    frame = feature_map.map_frame(evaluation_id)
    figure = map_views.map_figure(frame, colour, state.clamp_threshold(threshold),
                                  evaluation_id)
    note = (f"{info.n_images} images · {info.dims} features each, projected to 2-D by "
            f"{info.method.upper()} · lasso or box-select points to open them in the Errors "
            "gallery; click a point to open its image")
    return figure, note


@callback(Output(ids.MAP_SELECTION, "children"), Input(ids.MAP_GRAPH, "selectedData"),
          State(ids.MAP_RUN, "value"), State(ids.MAP_SPLIT, "value"),
          State(ids.MAP_THRESHOLD, "value"), prevent_initial_call=True)
def select_points(selected: dict | None, run_id: int, split: str, threshold: float):
    chosen, total = map_views.chosen_points(selected)
    if not chosen:
        return None
    query = urlencode({"run": run_id, "split": split, "t": state.clamp_threshold(threshold),
                       "cell": "chosen", "ids": ",".join(map(str, chosen))})
    capped = (f" (the first {len(chosen)} of {total})" if total > len(chosen) else "")
    return dbc.Button(f"Open the {len(chosen)} selected images in the gallery{capped}",
                      href=f"/errors?{query}", color="primary", size="sm",
                      id="map-open-selection", external_link=True)


@callback(Output(ids.MAP_GO, "href"), Input(ids.MAP_GRAPH, "clickData"),
          State(ids.MAP_RUN, "value"), State(ids.MAP_SPLIT, "value"),
          State(ids.MAP_THRESHOLD, "value"), prevent_initial_call=True)
def open_point(clicked: dict | None, run_id: int, split: str, threshold: float) -> str:
    image_id = map_views.chosen_points(clicked)[0]
    if not image_id:
        raise PreventUpdate
    return "/errors?" + urlencode({"run": run_id, "split": split,
                                   "t": state.clamp_threshold(threshold), "cell": "chosen",
                                   "ids": image_id[0], "image": image_id[0]})


clientside_callback(
    """function (run, split, colour, threshold) {
        const query = new URLSearchParams();
        if (run !== null && run !== undefined) { query.set("run", run); }
        if (split) { query.set("split", split); }
        if (colour) { query.set("colour", colour); }
        if (threshold !== null && threshold !== undefined) { query.set("t", threshold); }
        window.history.replaceState(null, "", window.location.pathname + "?" + query);
        return query.toString();
    }""",
    Output(ids.MAP_URL_SYNC, "data"), Input(ids.MAP_RUN, "value"),
    Input(ids.MAP_SPLIT, "value"), Input(ids.MAP_COLOUR, "value"),
    Input(ids.MAP_THRESHOLD, "value"),
)
