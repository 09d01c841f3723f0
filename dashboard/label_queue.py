"""The Errors page's "Suspected label errors" queue: a crossval run's flagged training images,
most likely mislabelled first, each with its given label, out-of-fold probability, Grad-CAM
from the fold model that held it out, and the review verdicts one click away. A verdict is
saved and audited like any review (db/reviews.py); reviewed images leave the queue."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, ctx, dcc, html
from dash.exceptions import PreventUpdate

from dashboard import auth, files, ids
from dashboard.clicks import clicked
from db import label_issues
from db.models import LABEL_NAMES, REVIEW_VERDICTS
from db.reviews import ReviewError, add_review

QUEUE_SIZE = 20
VERDICT_COLORS = {"label error": "danger", "model error": "warning", "ambiguous": "secondary",
                  "correct": "success"}
NO_RANKING = ("No label ranking yet. A label can only be judged by models that never trained "
              "on it: run `cxr crossval --data DIR --folds 5` (out-of-fold probabilities, then "
              "cleanlab's ranking), then reload. Runs made by `cxr train`, and older runs, "
              "have none.")


def section() -> dbc.Card:
    """The queue's card: a crossval run picker and its unreviewed flagged images."""
    runs = label_issues.crossval_runs()
    header = dbc.CardHeader(html.H6("Suspected label errors", className="mb-0"))
    if not runs:
        body = dbc.CardBody(html.Div(NO_RANKING, className="text-muted", id=ids.LQ_STATUS))
        return dbc.Card([header, body], className="cxr-card mt-3", id="label-queue")
    return dbc.Card([header, dbc.CardBody([
        dbc.Row([
            dbc.Col([dbc.Label("Cross-validated run"), dcc.Dropdown(
                id=ids.LQ_RUN, value=runs[0].id, clearable=False,
                options=[{"label": run.label, "value": run.id} for run in runs])], md=6),
            dbc.Col(html.Small("Ranked by cleanlab from out-of-fold P(pneumonia): the models "
                               "that score an image never trained on it. Low label quality: "
                               "the given label is likely wrong.", className="text-muted"),
                    md=6),
        ], className="g-2 mb-2"),
        dcc.Store(id=ids.LQ_SAVED, data=0),
        html.Div(id=ids.LQ_STATUS),
        dcc.Loading(html.Div(id=ids.LQ_LIST), delay_show=300),
    ])], className="cxr-card mt-3", id="label-queue")


def _verdict_buttons(image_id: int, may_review: bool) -> html.Div:
    if not may_review:
        return html.Div("Your role cannot give verdicts: ask an admin for the reviewer role.",
                        className="small text-muted")
    return html.Div([dbc.Button(verdict, size="sm", color=VERDICT_COLORS[verdict], outline=True,
                                className="me-1 mb-1", n_clicks=0,
                                id={"type": ids.LQ_VERDICT, "image": image_id,
                                    "verdict": verdict})
                     for verdict in REVIEW_VERDICTS])


def _item(item: label_issues.LabelIssueView, may_review: bool) -> html.Div:
    label = LABEL_NAMES[item.given_label]
    cam = (html.Img(src=f"/files/cam-thumb/{item.prediction_id}", className="cxr-queue-thumb",
                    alt=f"Grad-CAM of image {item.image_id}, fold {item.fold + 1}")
           if item.has_cam else html.Div("no Grad-CAM", className="small text-muted"))
    return html.Div(dbc.Row([
        dbc.Col(html.Img(src=f"/files/thumb/{item.image_id}", className="cxr-queue-thumb",
                         alt=f"image {item.image_id}"), width="auto"),
        dbc.Col(cam, width="auto"),
        dbc.Col([
            html.Div([html.Strong(f"#{item.rank} "), f"image {item.image_id} · given ",
                      dbc.Badge(label, color="danger" if item.given_label else "success")]),
            html.Div(f"out-of-fold P(pneumonia) {item.probability:.3f} · label quality "
                     f"{item.label_quality:.3f} · Grad-CAM from fold {item.fold + 1}",
                     className="small"),
            html.Div(item.rel_path, className="small text-muted text-break"),
            _verdict_buttons(item.image_id, may_review),
        ]),
    ], className="g-2 align-items-center"), className="list-group-item cxr-label-issue",
        **{"data-image": item.image_id})


@callback(Output(ids.LQ_LIST, "children"), Input(ids.LQ_RUN, "value"),
          Input(ids.LQ_SAVED, "data"))
@auth.requires("viewer")
def show_queue(run_id: int | None, _saved: int | None):
    if run_id is None:
        raise PreventUpdate
    if not _is_id(run_id):
        return html.Div(NO_RANKING, className="text-muted")
    queue = label_issues.label_queue(run_id, QUEUE_SIZE)
    summary = html.Div(
        f"{queue.flagged} of {queue.ranked} training images flagged; {queue.reviewed} reviewed "
        f"on this run; showing the next {len(queue.items)}.", className="small text-muted mb-2",
        id="label-queue-summary")
    if not queue.ranked:
        return html.Div(NO_RANKING, className="text-muted")
    if not queue.items:
        return [summary, html.Div("Nothing left to review: every flagged image has a verdict.",
                                  className="text-muted")]
    may_review = auth.allowed("reviewer")
    return [summary, html.Div([_item(item, may_review) for item in queue.items],
                             className="list-group")]


def _is_id(value: object) -> bool:
    """A database id as the page sends it: a plain positive int (not a bool, str or None)."""
    return type(value) is int and value > 0


@callback(Output(ids.LQ_SAVED, "data"), Output(ids.LQ_STATUS, "children"),
          Input({"type": ids.LQ_VERDICT, "image": ALL, "verdict": ALL}, "n_clicks"),
          State(ids.LQ_RUN, "value"), State(ids.LQ_SAVED, "data"), prevent_initial_call=True)
@auth.requires("reviewer")
def save_verdict(_clicks: list, run_id: int | None, saved: int | None):
    """One click saves the verdict as a review on the crossval run; the image leaves."""
    image_id = clicked("image")
    verdict = str(ctx.triggered_id["verdict"])
    if not (_is_id(run_id) and _is_id(image_id)):
        return saved, dbc.Alert("Pick a crossval run and click a verdict on one of its images; "
                                "nothing saved.", color="warning", className="py-1")
    if not files.may_see_image(image_id):
        return saved, dbc.Alert(files.UPLOADS_HIDDEN, color="info", className="py-1")
    actor = auth.current_actor()
    refusal = label_issues.verdict_refusal(run_id, image_id, verdict, actor.user_id,
                                           actor.name)
    if refusal is not None:
        return saved, dbc.Alert(refusal[0].upper() + refusal[1:] + ".", color="warning",
                                className="py-1")
    try:
        add_review(image_id, verdict, actor, "", run_id)
    except ReviewError as exc:
        return saved, dbc.Alert(str(exc), color="warning", className="py-1")
    return (saved or 0) + 1, dbc.Alert(f"Saved “{verdict}” for image {image_id}.",
                                       color="success", className="py-1", duration=4000,
                                       id="label-queue-saved-alert")
