"""The sign-in page and sign-out: a plain form posted to Flask; Flask-Login keeps the session."""

from __future__ import annotations

from flask import Blueprint, Response, redirect, request, session
from flask_login import current_user, login_user, logout_user
from markupsafe import escape

from dashboard.auth import SignedInUser
from db.audit import Actor, record
from db.users import sign_in

blueprint = Blueprint("auth", __name__)

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>CXR Lens · Sign in</title>
<link rel="stylesheet" href="/assets/00-bootstrap.min.css"></head>
<body class="bg-light"><main class="container" style="max-width: 26rem; margin-top: 10vh">
<h1 class="h3 mb-3">CXR Lens</h1><p class="text-muted">Sign in to see runs, images and results.
</p>{message}
<form method="post" action="/login?next={next}">
<label class="form-label" for="login-name">User name</label>
<input class="form-control mb-2" id="login-name" name="name" autocomplete="username"
 required autofocus value="{name}">
<label class="form-label" for="login-password">Password</label>
<input class="form-control mb-3" id="login-password" name="password" type="password"
 autocomplete="current-password" required>
<button class="btn btn-primary w-100" id="login-submit" type="submit">Sign in</button>
</form><p class="small text-muted mt-3">No account? An admin adds one with
<code>cxr users add NAME --role viewer</code>.</p></main></body></html>"""


def _safe_next(target: str | None) -> str:
    """Only a path on this server: never another host (no open redirect)."""
    target = target or "/"
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _page(message: str = "", name: str = "", status: int = 200) -> Response:
    alert = f'<div class="alert alert-danger" id="login-error">{escape(message)}</div>' \
        if message else ""
    html = PAGE.format(message=alert, name=escape(name),
                       next=escape(_safe_next(request.args.get("next"))))
    response = Response(html, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> Response:
    if request.method == "GET":
        return _page()
    name = (request.form.get("name") or "").strip()
    result = sign_in(name, request.form.get("password") or "", client=request.remote_addr or "")
    if result.user is None:
        message = (f"Too many failed sign-ins for this name: try again in "
                   f"{result.retry_after_s} s." if result.retry_after_s
                   else "Wrong user name or password, or the account is disabled.")
        response = _page(message, name, 429 if result.retry_after_s else 401)
        if result.retry_after_s:
            response.headers["Retry-After"] = str(result.retry_after_s)
        return response
    session.clear()
    session.permanent = True  # the cookie expires after CXR_SESSION_HOURS
    login_user(SignedInUser(result.user.id, result.user.name, result.user.role,
                            result.user.session_stamp))
    return redirect(_safe_next(request.args.get("next")))


@blueprint.route("/logout", methods=["GET", "POST"])
def logout() -> Response:
    if current_user.is_authenticated:
        record(Actor(current_user.name, current_user.user_id), "signed out")
    logout_user()
    session.clear()
    return redirect("/login")

