"""Aliases on the dashboard: the verdict a score may give (none when the image is unlike the
training images), the production marker, and the Runs page's aliases card with the admins'
promote form (its callback is here, checked for the admin role on the server)."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, ctx, html
from dash.exceptions import PreventUpdate

from dashboard import auth, ids
from db import registry
from db.errors import UserError
from db.models import LABEL_NAMES, PRODUCTION_ALIAS
from db.runs import RunInfo
from db.uploads import StoredScore

LABEL_COLORS = {0: "success", 1: "danger"}
NOT_ASSESSABLE = "not assessable: unlike the training images"


def verdict(score: StoredScore) -> list:
    """The probability and the NORMAL/PNEUMONIA badge; for an image outside the training
    population, the probability greyed and no verdict (a badge there would be false
    confidence)."""
    probability = f"P(pneumonia) = {score.probability:.3f}"
    if not score.assessable:
        return [html.Span(probability, className="score-probability text-muted me-2"),
                dbc.Badge(NOT_ASSESSABLE, color="light", text_color="secondary",
                          className="score-not-assessable border")]
    return [html.Span(probability, className="score-probability me-2"),
            dbc.Badge(LABEL_NAMES[score.predicted_label],
                      color=LABEL_COLORS[score.predicted_label], className="score-label")]


def production_badge(score: StoredScore) -> dbc.Badge | None:
    """"production" on the score that was the product's answer when it was stored."""
    if not score.from_production:
        return None
    return dbc.Badge(PRODUCTION_ALIAS, color="primary", className="score-production ms-1",
                     title="this run held the production alias when the upload was scored")


def scoring_choice(completed: list[RunInfo]) -> tuple[str, dbc.Checkbox]:
    """The runs picker's placeholder (who answers by default) and the challengers checkbox."""
    production = registry.production_run_id()
    names = {run.id: run.name for run in completed}
    placeholder = (f"the production run: #{production} {names[production]}"
                   if production in names else "every completed run"
                   + (f" (run {production} holds production but cannot score)"
                      if production is not None else ""))
    return placeholder, dbc.Checkbox(
        id=ids.SCORE_CHALLENGERS, value=False, className="mt-1", disabled=production is None,
        label="Also score with the challengers (every other completed run)")


def _can_answer(run: RunInfo) -> bool:
    """Only a run with a checkpoint (or an ensemble) can answer uploads: no external or crossval
    run is offered for promotion (the server refuses them too)."""
    return run.is_ensemble or run.checkpoint_path is not None


def aliases_card(runs: list[RunInfo], admin: bool) -> dbc.Card:
    """Which run holds each alias and who set it when; admins also get the promote form."""
    form = dbc.Row([
        dbc.Col(dbc.Select(id=ids.RUNS_PROMOTE_RUN, size="sm", placeholder="run to promote",
                           options=[{"label": run.label, "value": str(run.id)}
                                    for run in runs if _can_answer(run)]), md=5),
        dbc.Col(dbc.Input(id=ids.RUNS_PROMOTE_ALIAS, value=PRODUCTION_ALIAS, size="sm",
                          maxLength=60), md=2),
        dbc.Col(dbc.Checkbox(id=ids.RUNS_PROMOTE_FORCE, value=False,
                             label="force (not completed, unhealthy or untested)"), md=3),
        dbc.Col(dbc.Button("Promote", id=ids.RUNS_PROMOTE, size="sm", color="primary"), md=2),
    ], className="g-2 align-items-center mt-2") if admin else None
    return dbc.Card(dbc.CardBody([
        html.H6("Aliases: which run answers uploads"),
        html.Div(alias_table(registry.alias_history(), admin), id=ids.RUNS_ALIASES),
        form, html.Div(id=ids.RUNS_PROMOTE_STATUS, className="small mt-2"),
    ]), className="cxr-card mt-3 runs-aliases")


def _remove_button(row: registry.AliasAssignment) -> dbc.Button:
    return dbc.Button("Remove", id={"type": ids.RUNS_DEMOTE, "alias": row.alias}, size="sm",
                      color="link", className="p-0 ms-2 alias-remove",
                      title=f"remove alias {row.alias} from run {row.run_id} (audited)")


def alias_table(history: list[registry.AliasAssignment],
                admin: bool = False) -> dbc.Table | html.Div:
    """The assignments, newest first; an admin gets a Remove button on each current one."""
    if not history:
        return html.Div("No aliases yet: an admin promotes a run (here or with `cxr promote "
                        "RUN`); until then uploads are scored by every completed run.",
                        className="text-muted small")
    rows = [html.Tr([
        html.Td(dbc.Badge(row.alias, color="primary" if row.current else "secondary")),
        html.Td(f"#{row.run_id} {row.run_name}"),
        html.Td(f"{row.set_at:%Y-%m-%d %H:%M} by {row.set_by}"),
        html.Td(["now", _remove_button(row) if admin else None] if row.current
                else f"until {row.replaced_at:%Y-%m-%d %H:%M} ({row.replaced_by})"),
        html.Td(row.forced_past or "", className="text-warning-emphasis"),
    ], className="alias-current" if row.current else "alias-past text-muted") for row in history]
    head = html.Thead(html.Tr([html.Th(h) for h in ("Alias", "Run", "Set", "Held",
                                                    "Forced past")]))
    return dbc.Table([head, html.Tbody(rows)], size="sm", className="alias-table small mb-0")


@callback(Output(ids.RUNS_PROMOTE_STATUS, "children"), Output(ids.RUNS_ALIASES, "children"),
          Input(ids.RUNS_PROMOTE, "n_clicks"), State(ids.RUNS_PROMOTE_RUN, "value"),
          State(ids.RUNS_PROMOTE_ALIAS, "value"), State(ids.RUNS_PROMOTE_FORCE, "value"),
          prevent_initial_call=True)
@auth.requires("admin")
def promote_run(clicks: int | None, run_id: object, alias: object, force: object):
    if not clicks:
        raise PreventUpdate
    if run_id is None or not str(run_id).strip():
        return dbc.Alert("Choose a run to promote.", color="warning", className="py-1"), \
            alias_table(registry.alias_history(), admin=True)
    try:
        done = registry.promote(registry.check_run_id(run_id), str(alias or "").strip(),
                                auth.current_actor(),
                                force=bool(force))
    except UserError as exc:
        message = str(exc).replace("with --force", "with the force box ticked")
        return (dbc.Alert(message, color="danger", className="py-1 promote-refused"),
                alias_table(registry.alias_history(), admin=True))
    return (dbc.Alert(f"Run #{done.run_id} {done.run_name} is now {done.alias}.",
                      color="success", className="py-1 promote-done"),
            alias_table(registry.alias_history(), admin=True))


@callback(Output(ids.RUNS_PROMOTE_STATUS, "children", allow_duplicate=True),
          Output(ids.RUNS_ALIASES, "children", allow_duplicate=True),
          Input({"type": ids.RUNS_DEMOTE, "alias": ALL}, "n_clicks"), prevent_initial_call=True)
@auth.requires("admin")
def demote_alias(clicks: list):
    """Remove the clicked alias from its run: the dashboard's `cxr demote`, audited the same."""
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not any(clicks or []):
        raise PreventUpdate
    alias = str(trigger.get("alias", ""))
    try:
        done = registry.remove_alias(alias, auth.current_actor())
    except UserError as exc:
        status = dbc.Alert(str(exc), color="danger", className="py-1 demote-refused")
    else:
        status = dbc.Alert(f"Alias {done.alias} removed from run #{done.run_id}; no run holds it "
                           "now.", color="success", className="py-1 demote-done")
    return status, alias_table(registry.alias_history(), admin=True)
