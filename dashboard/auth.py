"""Sign-in and roles on the dashboard's server: Flask-Login sessions, one guard for every route.

Every request passes `_guard` before any view runs. The role a request needs comes from the app
itself, so a new page, callback or route cannot be left open by forgetting it:
- a page needs the `role` its `dash.register_page(..., role=...)` declares (a page without one
  stops the app from starting);
- a callback needs the role of the page module that defines it, or the role set on the
  function with `@requires(...)` (placed under `@callback`);
- any other route needs the role set on its view with `@requires(...)`; a route without one is
  refused (403) to everyone, and only the endpoints in PUBLIC_ENDPOINTS need no session.
Without a session, pages redirect to the sign-in page and everything else answers 401; with too
low a role, 403. Neither carries any data. A callback request must also carry exactly its
callback's declared outputs, inputs and state (dashboard/callback_shape.py), or it is a 400
before any callback runs, with sign-in off too.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import dash
from dash.exceptions import UnsupportedRelativePath
from flask import Flask, Response, jsonify, redirect, request
from flask_login import LoginManager, UserMixin, current_user
from werkzeug.exceptions import RequestEntityTooLarge

from dashboard.callback_shape import ShapeError, check_shape, declared_outputs
from db.audit import Actor
from db.errors import UserError
from db.files import key_file
from db.models import USER_ROLES
from db.users import get_user, role_rank
from engine import settings

F = TypeVar("F", bound=Callable)
log = logging.getLogger(__name__)

ROLE_ATTRIBUTE = "cxr_role"
LOCAL_ACTOR = "local (no sign-in)"
LOGIN_PATH = "/login"
DEFAULT_SESSION_HOURS = settings.CXR_SESSION_HOURS.default
MAX_SESSION_HOURS = 24 * 366  # a year: past it a cookie outlives any reason to keep it
MIN_SECRET_KEY_BYTES = 32  # a session-signing key any shorter can be guessed offline
# Library code and styling only: no image, row or result passes through these.
PUBLIC_ENDPOINTS = frozenset({
    "static", "_dash_assets.static", "/_favicon.ico", "auth.login", "auth.logout",
    "/_dash-component-suites/<string:package_name>/<path:fingerprinted_path>",
})
# The shell and the callback graph: any signed-in user.
SHELL_ENDPOINTS = frozenset({"/_dash-layout", "/_dash-dependencies", "/_reload-hash"})
PAGE_ENDPOINTS = frozenset({"/", "/<path:path>"})
CALLBACK_ENDPOINT = "/_dash-update-component"
PAGES_CONTENT = "_pages_content"  # Dash's router callback renders a page's layout into it
PAGES_LOCATION = "_pages_location"  # and reads the page from this location's pathname


def requires(role: str) -> Callable[[F], F]:
    """Mark a route view or a callback function with the role it needs."""
    if role not in USER_ROLES:
        raise ValueError(f"unknown role {role!r}")

    def mark(function: F) -> F:
        setattr(function, ROLE_ATTRIBUTE, role)
        return function

    return mark


class SignedInUser(UserMixin):
    def __init__(self, user_id: int, name: str, role: str, session_version: int) -> None:
        self.user_id, self.name, self.role = user_id, name, role
        # Flask-Login keeps this id in the session and loads it on every request: sign-out,
        # disable, enable, a role change and a password reset raise the user's version, so
        # every older session (and any copy of its cookie) stops loading.
        self.id = f"{user_id}:{session_version}"


def _load_user(token: str) -> SignedInUser | None:
    user_id, _, version = (token or "").partition(":")
    if not user_id.isdigit():
        return None
    user = get_user(int(user_id))
    if user is None or not user.active or str(user.session_version) != version:
        return None
    return SignedInUser(user.id, user.name, user.role, user.session_version)


def auth_enabled() -> bool:
    from flask import current_app

    return bool(current_app.config.get("CXR_AUTH", True))


def current_actor() -> Actor:
    """Who makes the current request: the signed-in user, or the local no-auth demo user."""
    if not auth_enabled():
        return Actor(LOCAL_ACTOR)
    if not current_user.is_authenticated:
        raise PermissionError("no signed-in user")
    return Actor(current_user.name, current_user.user_id)


def current_role() -> str | None:
    if not auth_enabled():
        return "admin"
    return current_user.role if current_user.is_authenticated else None


def allowed(role_needed: str) -> bool:
    role = current_role()
    return role is not None and role_rank(role) >= role_rank(role_needed)


def page_role(app: dash.Dash, path: object) -> str | None:
    """The role of the page Dash's router renders for `path` (any signed-in user may see the
    404 page); None for a path the router cannot resolve."""
    from dash._pages import _path_to_page  # the router's own lookup, templates included

    try:
        page, _ = _path_to_page(app.strip_relative_path(path))
    except (TypeError, AttributeError, UnsupportedRelativePath):
        return None  # the router fails on it too: it renders nothing
    return page.get("role") if page else USER_ROLES[0]


def _router_role(app: dash.Dash, entry: dict, body: dict) -> str | None:
    """The role of the page the router will render: Dash passes it its inputs by position, so
    the pathname is read at the position the router declares it."""
    for position, spec in enumerate(entry.get("inputs", [])):
        if spec == {"id": PAGES_LOCATION, "property": "pathname"}:
            return page_role(app, body["inputs"][position].get("value"))
    return None


def callback_role(app: dash.Dash, body: dict) -> str | None:
    """The role a callback request needs; None when the output is no server callback.

    `body` has passed `callback_refusal` (its dependencies are the declared ones)."""
    entry = app.callback_map.get(body.get("output"))
    function = entry.get("callback") if entry else None
    if function is None:
        return None
    declared = getattr(function, ROLE_ATTRIBUTE, None)
    if declared:
        return declared
    if any(output["id"] == PAGES_CONTENT for output in declared_outputs(entry)):
        return _router_role(app, entry, body)
    page = dash.page_registry.get(function.__module__)
    return page.get("role") if page else None


def callback_refusal(app: dash.Dash) -> Response | None:
    """400 for a body that is no JSON object or does not match its callback's declaration,
    403 for an output no server callback serves; None for a well-formed request."""
    body = _json_body()
    if not isinstance(body, dict):
        return _refuse(400, "a callback request is a JSON object with output, outputs, inputs "
                            "and state")
    key = body.get("output")
    entry = app.callback_map.get(key) if isinstance(key, str) else None
    if entry is None or entry.get("callback") is None:
        return _refuse(403, "this request is not served")
    try:
        check_shape(key, entry, body)
    except ShapeError as error:
        log.warning("callback request for %s refused: %s", key[:200], error)
        return _refuse(400, f"{error}: reload the page")
    return None


def _required_role(app: dash.Dash) -> str | None:
    endpoint = request.endpoint
    if endpoint in SHELL_ENDPOINTS:
        return USER_ROLES[0]
    if endpoint in PAGE_ENDPOINTS:
        return page_role(app, request.path)
    if endpoint == CALLBACK_ENDPOINT:
        return callback_role(app, _json_body())
    view = app.server.view_functions.get(endpoint)
    return getattr(view, ROLE_ATTRIBUTE, None)


def _json_body() -> object:
    """The request's JSON, or None when it is not JSON (nested too deep to parse included)."""
    try:
        return request.get_json(silent=True)
    except RecursionError:
        return None


def loopback_host(host: str) -> bool:
    """Whether a Host header names this machine's loopback: `localhost` or a loopback address
    literal. Names are never resolved: a name that resolves to 127.0.0.1 is how DNS rebinding
    reaches a loopback-only server from another site's page."""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if name.startswith("["):
        name = name[1:name.find("]")] if "]" in name else name
    name = name.lower()
    if name in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _refuse(status: int, message: str) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response


def _guard(app: dash.Dash) -> Response | None:
    limit = app.server.config.get("MAX_CONTENT_LENGTH")
    if limit and (request.content_length or 0) > limit:
        raise RequestEntityTooLarge()  # refused before anything else: it reveals nothing
    if not auth_enabled() and not loopback_host(request.host):
        return _refuse(403, f"sign-in is off, so this dashboard answers only to loopback "
                            f"names (127.0.0.1, [::1], localhost), not {request.host[:100]!r}: "
                            "open it as http://127.0.0.1:PORT/")
    if request.endpoint is None or request.endpoint in PUBLIC_ENDPOINTS:
        return None  # no route (Flask answers 404/405) or no data behind it
    signed_in = not auth_enabled() or current_user.is_authenticated
    if not signed_in:
        if request.endpoint in PAGE_ENDPOINTS and request.method in ("GET", "HEAD"):
            return redirect(f"{LOGIN_PATH}?next={request.full_path.rstrip('?')}")
        return _refuse(401, "sign in first")
    if request.endpoint == CALLBACK_ENDPOINT:
        refusal = callback_refusal(app)  # with sign-in off too: a malformed body is a 400
        if refusal is not None:
            return refusal
    if not auth_enabled():
        return None
    needed = _required_role(app)
    if needed is None:
        return _refuse(403, "this request is not served")
    if role_rank(current_user.role) < role_rank(needed):
        message = (f"your role ({current_user.role}) cannot open this; it needs {needed} or "
                   "above: ask an admin")
        if request.endpoint in PAGE_ENDPOINTS:
            return Response(f"<!DOCTYPE html><title>403</title><p>{message}. "
                            '<a href="/">Back to the runs</a></p>', 403, mimetype="text/html")
        return _refuse(403, message)
    return None


def secret_key(home: os.PathLike) -> bytes:
    """CXR_SECRET_KEY, or a key made once in CXR_HOME (0600) that every worker shares."""
    from_env = settings.CXR_SECRET_KEY.get()
    if from_env:
        if len(from_env.encode()) < MIN_SECRET_KEY_BYTES:
            raise UserError(
                f"CXR_SECRET_KEY is {len(from_env.encode())} bytes long; it signs every session "
                f"and must be at least {MIN_SECRET_KEY_BYTES} random bytes. Make one with "
                "`python -c \"import secrets; print(secrets.token_hex(32))\"`, or unset it to "
                "use the key kept in CXR_HOME/secret_key")
        return from_env.encode()
    return key_file(Path(home) / "secret_key")


def session_hours() -> float:
    """CXR_SESSION_HOURS, or the default (with a warning) when it is not a usable number."""
    try:
        hours = settings.CXR_SESSION_HOURS.get()
    except UserError:
        hours = math.nan
    if math.isfinite(hours) and 0 < hours <= MAX_SESSION_HOURS:
        return hours
    log.warning("CXR_SESSION_HOURS=%r is not a number of hours above 0 up to %d; sessions "
                "last %g hours", settings.CXR_SESSION_HOURS.raw(), MAX_SESSION_HOURS,
                DEFAULT_SESSION_HOURS)
    return DEFAULT_SESSION_HOURS


def https_enabled() -> bool:
    return settings.CXR_HTTPS.get()


def check_page_roles() -> None:
    """Every registered page declares a known role (or the app refuses to start)."""
    for module, page in dash.page_registry.items():
        if page.get("role") not in USER_ROLES:
            raise RuntimeError(f"page {module} declares no role: add role=... (one of "
                               f"{', '.join(USER_ROLES)}) to its dash.register_page")


def init_auth(app: dash.Dash, home: os.PathLike, enabled: bool = True,
              https: bool = False) -> None:
    """Sessions and the guard on `app`'s server (or the no-auth marker); the sign-in routes
    are registered by dashboard/app.py. `https` (or CXR_HTTPS) makes the session cookie Secure."""
    server: Flask = app.server
    server.config["CXR_AUTH"] = enabled
    check_page_roles()
    if not enabled:  # no roles, but callback requests are still held to their declarations
        server.before_request(lambda: _guard(app))
        return
    server.config.update(
        SECRET_KEY=secret_key(home), SESSION_COOKIE_NAME="cxr_session",
        SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=https or https_enabled(),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=session_hours()))
    manager = LoginManager()
    manager.user_loader(_load_user)
    manager.init_app(server)
    server.before_request(lambda: _guard(app))
