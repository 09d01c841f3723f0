"""Sessions end when they should; sign-in refuses other sites and hides which names exist.

Every session carries its user's session version, raised by sign-out, disable, enable, a role
change and a password reset: a cookie copied before any of those stops working. The throttle
and the audit treat a name no user has exactly like a known one.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from db.audit import Actor, recent
from db.users import (
    FREE_FAILURES,
    UNKNOWN_NAME_PREFIX,
    add_user,
    failed_sign_ins,
    reset_password,
    set_active,
    set_role,
    sign_in,
)
from tests.auth_helpers import form_token, post_login, sign_in_client

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "a-long-enough-password"
COOKIE = "cxr_session"


def _signed_in(app, name: str, role: str = "viewer"):  # noqa: ANN001, ANN202
    add_user(name, role, PASSWORD, Actor("tests"))
    client = sign_in_client(app.server.test_client(), name, PASSWORD)
    assert client.get("/_dash-layout").status_code == 200
    return client


def _with_cookie(app, value: str):  # noqa: ANN001, ANN202
    """Another browser holding a copy of a session cookie."""
    client = app.server.test_client()
    client.set_cookie(COOKIE, value)
    return client


def test_sign_out_ends_every_copy_of_the_session(empty_app) -> None:
    client = _signed_in(empty_app, "leaves-early")
    copied = client.get_cookie(COOKIE).value
    other_browser = sign_in_client(empty_app.server.test_client(), "leaves-early", PASSWORD)
    assert client.get("/logout").status_code == 302
    assert _with_cookie(empty_app, copied).get("/_dash-layout").status_code == 401
    assert _with_cookie(empty_app, copied).get("/errors").status_code == 302  # to /login
    assert other_browser.get("/_dash-layout").status_code == 401  # sign-out ends them all
    assert sign_in_client(client, "leaves-early", PASSWORD).get(
        "/_dash-layout").status_code == 200  # and signing in again works


def _cxr_users(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", "users", *args], cwd=REPO,
                          env=dict(os.environ), capture_output=True, text=True, timeout=120)


def test_disable_then_enable_leaves_old_sessions_ended(empty_app) -> None:
    client = _signed_in(empty_app, "paused")
    copied = client.get_cookie(COOKIE).value
    disabled = _cxr_users("disable", "paused")
    assert disabled.returncode == 0, disabled.stderr
    assert _with_cookie(empty_app, copied).get("/_dash-layout").status_code == 401
    enabled = _cxr_users("enable", "paused")
    assert enabled.returncode == 0 and "enabled" in enabled.stdout, enabled.stderr
    assert _with_cookie(empty_app, copied).get("/_dash-layout").status_code == 401
    assert client.get("/_dash-layout").status_code == 401
    assert sign_in_client(client, "paused", PASSWORD).get("/_dash-layout").status_code == 200


def test_role_change_and_password_reset_end_old_sessions(empty_app) -> None:
    client = _signed_in(empty_app, "promoted")
    copied = client.get_cookie(COOKIE).value
    set_role("promoted", "reviewer", Actor("tests"))
    assert _with_cookie(empty_app, copied).get("/_dash-layout").status_code == 401
    client = sign_in_client(client, "promoted", PASSWORD)
    copied = client.get_cookie(COOKIE).value
    reset_password("promoted", "another-long-password", Actor("tests"))
    assert _with_cookie(empty_app, copied).get("/_dash-layout").status_code == 401
    set_active("promoted", True, Actor("tests"))  # enabling an active user ends sessions too
    client = sign_in_client(client, "promoted", "another-long-password")
    assert client.get("/_dash-layout").status_code == 200


def _refused_without_session(response, client, words: str) -> None:  # noqa: ANN001
    assert response.status_code == 403
    assert words in response.get_data(as_text=True)
    assert client.get("/_dash-layout").status_code == 401


def test_sign_in_posts_from_another_site_are_refused(empty_app) -> None:
    add_user("csrf-victim", "viewer", PASSWORD, Actor("tests"))
    server = empty_app.server
    credentials = {"name": "csrf-victim", "password": PASSWORD}
    attacker = server.test_client()  # the victim's browser, posting the attacker's form
    _refused_without_session(
        attacker.post("/login", data=credentials, headers={"Origin": "http://evil.example"}),
        attacker, "Sign-in refused")
    _refused_without_session(attacker.post("/login", data=credentials), attacker,
                             "Sign-in refused")  # no token at all
    token_of_another_browser = form_token(server.test_client().get("/login").get_data(
        as_text=True))
    _refused_without_session(
        attacker.post("/login", data={**credentials, "csrf_token": token_of_another_browser}),
        attacker, "Sign-in refused")
    browser = server.test_client()
    token = form_token(browser.get("/login").get_data(as_text=True))
    _refused_without_session(browser.post(
        "/login", data={**credentials, "csrf_token": token},
        headers={"Origin": "http://evil.example"}), browser, "another site (http://evil.example)")
    honest = server.test_client()
    assert post_login(honest, "csrf-victim", PASSWORD,
                      ).status_code == 302  # the form's own token, no Origin: as before
    token = form_token(honest.get("/login").get_data(as_text=True))
    answer = honest.post("/login", data={**credentials, "csrf_token": token},
                         headers={"Origin": "http://localhost"})  # what a browser sends
    assert answer.status_code == 302 and honest.get("/_dash-layout").status_code == 200


def test_unknown_names_are_throttled_like_known_ones(empty_app) -> None:
    add_user("known-name", "viewer", PASSWORD, Actor("tests"))
    client = empty_app.server.test_client()
    for name in ("known-name", "no-such-name"):
        for _ in range(FREE_FAILURES):
            assert post_login(client, name, "wrong-password").status_code == 401
        refused = post_login(client, name, "wrong-password")
        assert refused.status_code == 429, name
        assert int(refused.headers["Retry-After"]) >= 1


def _seconds(name: str, password: str, throttled: bool) -> float:
    started = time.perf_counter()
    result = sign_in(name, password)
    elapsed = time.perf_counter() - started
    assert result.user is None and bool(result.retry_after_s) == throttled, (name, result)
    return elapsed


def test_a_throttled_or_unknown_name_answers_as_slowly_as_a_password_check(cxr_home) -> None:
    add_user("timed-known", "viewer", PASSWORD, Actor("tests"))
    timings: dict[tuple[str, bool], float] = {}
    for name in ("timed-known", "timed-ghost"):
        checked = [_seconds(name, "wrong-password", False) for _ in range(FREE_FAILURES)]
        throttled = [_seconds(name, "wrong-password", True) for _ in range(3)]
        timings[name, False] = statistics.median(checked)
        timings[name, True] = statistics.median(throttled)
    # One password check (tens of ms) dominates each answer; the bound tolerates a busy CPU.
    assert min(timings.values()) >= 0.4 * max(timings.values()), timings


def test_a_failed_sign_in_cannot_pose_as_a_user_or_the_cli(cxr_home) -> None:
    add_user("real-user", "viewer", PASSWORD, Actor("tests"))
    for typed in ("cli:root", "real-user\n2026-01-01 admin signed in", "Real-User"):
        sign_in(typed, "wrong-password")
    assert recent(actor="cli:root") == []
    actors = {entry.actor for entry in recent(action="sign-in failed")}
    assert actors == {f"{UNKNOWN_NAME_PREFIX}cli:root", f"{UNKNOWN_NAME_PREFIX}Real-User",
                      f"{UNKNOWN_NAME_PREFIX}real-user\\n2026-01-01 admin signed in"}
    sign_in("real-user", "wrong-password")
    assert [entry.actor for entry in recent(actor="real-user")] == ["real-user"]


def test_parallel_failures_each_count(cxr_home) -> None:
    """Concurrent wrong passwords (threads, as server workers would) leave exactly N counted."""
    names = ("parallel-a", "parallel-b", "parallel-ghost-a", "parallel-ghost-b")
    for name in names[:2]:
        add_user(name, "viewer", PASSWORD, Actor("tests"))
    attempts = [name for name in names for _ in range(FREE_FAILURES)]
    barrier = threading.Barrier(len(attempts))

    def attempt(name: str) -> int:
        barrier.wait()
        return sign_in(name, "wrong-password").retry_after_s

    with ThreadPoolExecutor(len(attempts)) as pool:
        assert list(pool.map(attempt, attempts)) == [0] * len(attempts)
    for name in names:
        assert failed_sign_ins(name) == FREE_FAILURES, name
        assert sign_in(name, "wrong-password").retry_after_s >= 1, name  # the back-off starts
