"""The sign-in page and sign-out: a plain form posted to Flask; Flask-Login keeps the session.

The form works without JavaScript. It carries a token kept in the (SameSite=Strict) session
cookie, and a post whose Origin names another site is refused, so another site cannot sign a
browser in under its own account (login CSRF).
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import quote, urlsplit

from flask import Blueprint, Response, redirect, request, session
from flask_login import current_user, login_user, logout_user
from markupsafe import escape

from dashboard.auth import SignedInUser
from db.audit import Actor
from db.users import sign_in, sign_out

blueprint = Blueprint("auth", __name__)

CSRF_SESSION_KEY = "login_csrf"
CSRF_FIELD = "csrf_token"
# Kept as they are in a `next` path and query; anything else (non-ASCII) is percent-encoded.
NEXT_SAFE_CHARS = "/?#[]@!$&'()*+,;=%:-._~"

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>CXR Lens · Sign in</title>
<link rel="stylesheet" href="/assets/00-bootstrap.min.css"></head>
<body class="bg-light"><main class="container" style="max-width: 26rem; margin-top: 10vh">
<h1 class="h3 mb-3">CXR Lens</h1><p class="text-muted">Sign in to see runs, images and results.
</p>{message}
<form method="post" action="/login">
<input type="hidden" name="csrf_token" value="{csrf_token}">
<input type="hidden" name="next" value="{next}">
<label class="form-label" for="login-name">User name</label>
<input class="form-control mb-2" id="login-name" name="name" autocomplete="username"
 required autofocus value="{name}">
<label class="form-label" for="login-password">Password</label>
<input class="form-control mb-3" id="login-password" name="password" type="password"
 autocomplete="current-password" required>
<button class="btn btn-primary w-100" id="login-submit" type="submit">Sign in</button>
</form><p class="small text-muted mt-3">No account? An admin adds one with
<code>cxr users add NAME --role viewer</code>.</p></main></body></html>"""


def safe_next(target: str | None) -> str:
    """`target` as a path on this server, or "/": never a scheme, a host or a way to one.

    Browsers drop tabs and newlines inside a URL and read a backslash as a slash, so any of
    those (or any other control character or space) refuses the target outright; what is left
    is percent-encoded as a browser would and must parse with no scheme and no host.
    """
    if not target or any(ord(char) <= 0x20 or ord(char) == 0x7F or char == "\\"
                         for char in target):
        return "/"
    encoded = quote(target, safe=NEXT_SAFE_CHARS)
    parts = urlsplit(encoded)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") \
            or parts.path.startswith("//"):
        return "/"
    return encoded


def _next_target() -> str:
    return safe_next(request.form.get("next") or request.args.get("next"))


def _csrf_token() -> str:
    token = session.get(CSRF_SESSION_KEY)
    if not token:
        token = session[CSRF_SESSION_KEY] = secrets.token_urlsafe(32)
    return token


def _cross_site_refusal() -> str | None:
    """Why this sign-in post may come from another site (None: it comes from our form)."""
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc != request.host:
        return (f"Sign-in refused: the form was sent from another site ({origin}). "
                "Sign in on this page instead.")
    expected, sent = session.get(CSRF_SESSION_KEY), request.form.get(CSRF_FIELD)
    if not expected or not sent or not hmac.compare_digest(str(expected), str(sent)):
        return ("Sign-in refused: the form had expired or came from elsewhere. "
                "Sign in again on this page.")
    return None


def _page(message: str = "", name: str = "", status: int = 200) -> Response:
    alert = f'<div class="alert alert-danger" id="login-error">{escape(message)}</div>' \
        if message else ""
    html = PAGE.format(message=alert, name=escape(name), next=escape(_next_target()),
                       csrf_token=escape(_csrf_token()))
    response = Response(html, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> Response:
    if request.method == "GET":
        return _page()
    name = (request.form.get("name") or "").strip()
    refusal = _cross_site_refusal()
    if refusal:
        session.clear()  # nothing of a forged post is kept; the page carries a fresh token
        return _page(refusal, status=403)
    result = sign_in(name, request.form.get("password") or "", client=request.remote_addr or "")
    if result.user is None:
        message = (f"Too many failed sign-ins for this name: try again in "
                   f"{result.retry_after_s} s." if result.retry_after_s
                   else "Wrong user name or password, or the account is disabled.")
        response = _page(message, name, 429 if result.retry_after_s else 401)
        if result.retry_after_s:
            response.headers["Retry-After"] = str(result.retry_after_s)
        return response
    target = _next_target()
    session.clear()
    session.permanent = True  # the cookie expires after CXR_SESSION_HOURS
    login_user(SignedInUser(result.user.id, result.user.name, result.user.role,
                            result.user.session_version))
    return redirect(target)


@blueprint.route("/logout", methods=["GET", "POST"])
def logout() -> Response:
    if current_user.is_authenticated:
        sign_out(current_user.user_id, Actor(current_user.name, current_user.user_id))
    logout_user()
    session.clear()
    return redirect("/login")
