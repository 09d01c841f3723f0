"""Score: upload X-rays (JPEG, PNG, DICOM) and score each with every completed run.

Each file gets every chosen run's probability, label at the run's threshold, Grad-CAM overlay
and inference time, with a flag when the runs disagree. A bad file gets a message of its own
and stores nothing; the other files in the same upload are still scored.
"""

from __future__ import annotations

import logging

import dash
import dash_bootstrap_components as dbc
import flask
from dash import ALL, Input, Output, State, callback, clientside_callback, ctx, dcc, html
from dash.exceptions import PreventUpdate

from dashboard import auth, external_view, ids, lookalike_views
from dashboard.alias_views import scoring_choice
from dashboard.score_views import (
    SCORING_DEVICE,
    error_card,
    history_table,
    result_card,
    run_options,
)
from db import runs as runs_db
from db import uploads as upload_db
from db.models import LABEL_NAMES
from engine.data.decode import DecodeError
from engine.errors import UserError
from engine.inference.uploads import (
    decode_data_url,
    decode_upload,
    max_upload_bytes,
    max_upload_mb,
    score_uploads,
    scoring_run_ids,
)

log = logging.getLogger(__name__)

dash.register_page(__name__, path="/score", name="Score", order=4, title="CXR Lens · Score",
                   role="uploader")

HISTORY_ROWS = 50
# The longest file name common file systems allow; the name is only shown, never stored.
MAX_NAME_CHARS = 255


def _chosen_runs(query_runs: str | None, runs: list[runs_db.RunInfo]) -> list[int]:
    wanted = set()
    for part in (query_runs or "").split(","):
        if part.strip().isdigit():
            wanted.add(int(part))
    return [run.id for run in runs if run.id in wanted]


def layout(runs: str | None = None, **_query: str) -> html.Div:
    completed = runs_db.completed_runs()
    limit_mb = max_upload_mb()
    placeholder, challengers = scoring_choice(completed)
    return html.Div([
        html.H3("Score"),
        dbc.Card(dbc.CardBody([
            dbc.Row([
                dbc.Col([dbc.Label("Runs"), dcc.Dropdown(
                    id=ids.SCORE_RUNS, multi=True, options=run_options(completed),
                    value=_chosen_runs(runs, completed),
                    placeholder=placeholder), challengers,
                    external_view.score_note(runs_db.run_summaries(only_evaluated=False))],
                    md=8),
                dbc.Col([dbc.Label("Signed in as"), html.Div(
                    auth.current_actor().name, id=ids.SCORE_ANALYST, className="fw-bold")], md=4),
            ], className="mb-3"),
            dbc.Alert("No completed runs yet: train one with `cxr train` or `cxr demo`.",
                      color="warning", is_open=not completed),
            dcc.Upload(
                id=ids.SCORE_UPLOAD, multiple=True, max_size=max_upload_bytes(),
                children=html.Div([
                    "Drop X-rays here or ", html.A("choose files", href="#"),
                    html.Div(f"JPEG, PNG or DICOM (.dcm or no extension), at most "
                             f"{limit_mb:g} MB each", className="small text-muted"),
                ]),
                className="score-upload border border-2 rounded p-4 text-center",
                style={"borderStyle": "dashed", "cursor": "pointer"}),
            dbc.Checkbox(
                id=ids.SCORE_FORCE, value=False, className="mt-2",
                label="Score anyway: files that fail the input checks (under 64 px on a side, "
                      "aspect beyond 3:1, DICOM that is not CR/DX or not the chest) are scored "
                      "and stored as forced"),
            dbc.Alert(id=ids.SCORE_BROWSER_ERROR, color="danger", is_open=False, dismissable=True,
                      className="mt-2 score-error"),
            dcc.Store(id=ids.SCORE_LIMIT, data={"bytes": max_upload_bytes(), "mb": limit_mb,
                                             "upload": ids.SCORE_UPLOAD,
                                             "error": ids.SCORE_BROWSER_ERROR}),
            dcc.Store(id=ids.SCORE_GUARD),
        ]), className="cxr-card mb-3"),
        dcc.Loading(html.Div(id=ids.SCORE_RESULTS), type="dot"),
        html.H4("History", className="mt-4"),
        html.Div(id=ids.SCORE_LABEL_STATUS, className="small mb-2"),
        html.Div(history_table(upload_db.upload_history(HISTORY_ROWS), ids.SCORE_LABEL),
                 id=ids.SCORE_HISTORY),
    ])


def _score_one(contents: str | None, name: str, run_ids: list[int] | None,
               force: bool = False, challengers: bool = False) -> object:
    """One file -> its result card or its error message. Never raises."""
    try:
        run_ids = run_ids or (scoring_run_ids(None, every_run=True) if challengers else None)
        decoded = decode_upload(decode_data_url(contents, name), name, force)
        device = flask.current_app.config.get(SCORING_DEVICE)
        result = score_uploads([decoded], run_ids, actor=auth.current_actor(), device=device)[0]
        return html.Div([result_card(decoded, result), lookalike_views.for_upload(
            decoded.gray, [score.run_id for score in result.scores], device)])
    except (DecodeError, UserError) as exc:
        return error_card(str(exc))
    except Exception as exc:  # noqa: BLE001 - one bad file must not fail the others
        log.exception("scoring an upload failed")  # no file name: logs are stored
        return error_card(f"{name}: could not be scored ({type(exc).__name__}); "
                          "the details are in the server log")


@callback(Output(ids.SCORE_RESULTS, "children"), Output(ids.SCORE_HISTORY, "children"),
          Output(ids.SCORE_UPLOAD, "contents"),
          Input(ids.SCORE_UPLOAD, "contents"), State(ids.SCORE_UPLOAD, "filename"),
          State(ids.SCORE_RUNS, "value"), State(ids.SCORE_FORCE, "value"),
          State(ids.SCORE_CHALLENGERS, "value"), prevent_initial_call=True)
def score_files(contents: list | str | None, filenames: list | str | None,
                run_ids: list[int] | None, force: bool | None = False,
                challengers: bool | None = False):
    if not contents:
        raise PreventUpdate
    contents = contents if isinstance(contents, list) else [contents]
    filenames = filenames if isinstance(filenames, list) else [filenames]
    if len(filenames) != len(contents):
        filenames = [f"file {i + 1}" for i in range(len(contents))]
    chosen = [int(run) for run in run_ids or [] if str(run).isdigit()] or None
    cards = [_score_one(content, str(name or "upload")[:MAX_NAME_CHARS], chosen, force=bool(force),
                        challengers=bool(challengers))
             for content, name in zip(contents, filenames, strict=True)]
    # Clearing the contents lets the same file be uploaded again.
    return cards, history_table(upload_db.upload_history(HISTORY_ROWS), ids.SCORE_LABEL), None


@callback(Output(ids.SCORE_LABEL_STATUS, "children"),
          Input({"type": ids.SCORE_LABEL, "upload": ALL}, "value"), prevent_initial_call=True)
def record_label(_values: list):
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not ctx.triggered:
        raise PreventUpdate
    upload_id, label = int(trigger["upload"]), ctx.triggered[0]["value"]
    upload = upload_db.get_upload(upload_id)
    if upload is None:
        return dbc.Alert(f"Upload {upload_id} no longer exists.", color="warning")
    if label not in (0, 1, None) or upload.true_label == label:
        raise PreventUpdate  # re-rendered pickers fire with the stored value: nothing to do
    upload_db.set_true_label(upload_id, label, auth.current_actor())
    shown = "unknown" if label is None else LABEL_NAMES[label]
    return dbc.Alert(f"Upload #{upload_id}: true label {shown}.",
                     color="success", className="py-1 score-label-saved")


# In the browser, dcc.Upload drops files over max_size silently: say so instead.
clientside_callback(
    """
    function(limit) {
        const attach = function(tries) {
            const root = document.getElementById(limit.upload);
            if (!root) { if (tries > 0) setTimeout(function() { attach(tries - 1); }, 200);
                         return; }
            if (root.dataset.sizeGuard) return;
            root.dataset.sizeGuard = '1';
            const check = function(files) {
                const big = Array.from(files || []).filter(function(f) {
                    return f.size > limit.bytes; });
                if (!big.length) return;
                const text = big.map(function(f) {
                    return f.name + ': ' + (f.size / 1048576).toFixed(1) + ' MB is over the ' +
                        limit.mb + ' MB upload limit, so it was not uploaded'; }).join('; ');
                window.dash_clientside.set_props(limit.error, {children: text, is_open: true});
            };
            root.addEventListener('drop', function(e) {
                check(e.dataTransfer && e.dataTransfer.files); }, true);
            root.addEventListener('change', function(e) { check(e.target.files); }, true);
        };
        attach(20);
        return window.dash_clientside.no_update;
    }
    """,
    Output(ids.SCORE_GUARD, "data"), Input(ids.SCORE_LIMIT, "data"),
)
