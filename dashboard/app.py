"""The Dash shell: navbar from the page registry, the error banner, the page container.

`create_app()` builds a fresh app (upgrading the database first); nothing is loaded at import
time. Gunicorn runs `dashboard.app:create_server()`.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import dash
import dash_bootstrap_components as dbc
from dash import Dash, html, set_props
from flask import Flask, jsonify

from dashboard import attention_files, auth, files, ids, login_views, report_files
from dashboard.score_views import SCORING_DEVICE
from db.migrate import init_db
from db.session import cxr_home
from engine.errors import UserError
from engine.inference.uploads import max_upload_mb

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
# One request may carry several files (multi-file scoring); each is held to the per-file limit
# by the Score page, the request as a whole to this many of them.
MAX_FILES_PER_REQUEST = 10


def _request_too_large(_error: Exception):  # noqa: ANN202 - Flask handler
    limit = max_upload_mb()
    message = (f"upload too large: each file may be at most {limit:g} MB and one request at "
               f"most {limit * MAX_FILES_PER_REQUEST:g} MB (CXR_MAX_UPLOAD_MB={limit:g}); "
               "send fewer or smaller files")
    return jsonify({"error": message}), 413


def _message_for_user(error: Exception) -> str | None:
    """The message of an error written for the user; None for anything else.

    Only UserError is written for the user. Any other error (a library's can carry SQL, paths
    or internals) gives the page no part of its text.
    """
    return str(error) if isinstance(error, UserError) else None


def _on_callback_error(error: Exception) -> None:
    """A failing callback leaves its outputs as they were and says so in the banner.

    The page gets a generic message and a reference; the traceback goes to the server log.
    """
    reference = uuid.uuid4().hex[:8]
    log.exception("dashboard callback failed (reference %s)", reference, exc_info=error)
    explained = _message_for_user(error)
    set_props(ids.ERROR_ALERT, {
        "is_open": True,
        "children": "Something went wrong while updating this view"
                    + (f": {explained.splitlines()[0][:200]}" if explained else "")
                    + f". The details are in the server log (reference {reference}).",
    })


def _account_links() -> list:
    if auth.current_role() is None:  # Dash checks the layout once outside any request's user
        return []
    actor = auth.current_actor()
    if actor.user_id is None:
        return [dbc.NavItem(dbc.NavLink("sign-in off (local demo)", disabled=True))]
    return [dbc.NavItem(dbc.NavLink(f"Sign out {actor.name}", href=auth.LOGIN_PATH.replace(
        "login", "logout"), external_link=True, id=ids.SIGN_OUT))]


def navbar() -> dbc.Navbar:
    links = [dbc.NavItem(dbc.NavLink(page["name"], href=page["relative_path"], active="exact"))
             for page in dash.page_registry.values() if page.get("nav", True)
             and auth.allowed(page["role"])]  # hiding is only a courtesy: the server checks
    return dbc.Navbar(dbc.Container([
        dbc.NavbarBrand([html.Span("CXR Lens", className="fw-bold"),
                         html.Small(" pneumonia classifier toolkit", className="ms-2 opacity-75")],
                        href="/"),
        dbc.Nav([*links, *_account_links()], navbar=True, className="ms-auto"),
    ], fluid=True), color="primary", dark=True, className="cxr-navbar mb-3", id=ids.NAVBAR)


def shell() -> html.Div:
    return html.Div([
        navbar(),
        dbc.Container([
            dbc.Alert(id=ids.ERROR_ALERT, color="danger", is_open=False, dismissable=True),
            dash.page_container,
        ], fluid=True, className="pb-5"),
    ])


def create_app(auth_enabled: bool = True, https: bool = False, device: str | None = None) -> Dash:
    """The app; `auth_enabled=False` only for a loopback demo (`cxr serve --no-auth`). `https`:
    served over HTTPS (Secure cookie); `device`: where uploads are scored (None: the default)."""
    init_db()
    app = Dash(
        __name__,
        use_pages=True,
        pages_folder=str(HERE / "pages"),
        assets_folder=str(HERE / "assets"),
        title="CXR Lens",
        suppress_callback_exceptions=True,
        on_error=_on_callback_error,
        update_title=None,
    )
    server = app.server
    server.config[SCORING_DEVICE] = device
    server.config["MAX_CONTENT_LENGTH"] = int(max_upload_mb() * MAX_FILES_PER_REQUEST * 2**20)
    server.register_error_handler(413, _request_too_large)
    # Every route the app serves is registered here: files, the lung-outline overlays, the
    # report download, sign-in.
    server.register_blueprint(files.blueprint)
    server.register_blueprint(attention_files.blueprint)
    server.register_blueprint(report_files.blueprint)
    if auth_enabled:
        server.register_blueprint(login_views.blueprint)
    auth.init_auth(app, cxr_home(), enabled=auth_enabled, https=https)
    app.layout = shell
    return app


def create_server(auth_enabled: bool = True, https: bool = False,
                  device: str | None = None) -> Flask:
    """WSGI entry point: `gunicorn 'dashboard.app:create_server()'`."""
    return create_app(auth_enabled, https, device).server

