"""The session cookie's Secure flag (CXR_HTTPS, `cxr serve --https`) and lifetime
(CXR_SESSION_HOURS), and the sign-in back-off schedule past the first refusal."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from tests.auth_helpers import TEST_ADMIN, TEST_PASSWORD, ensure_user, post_login


@pytest.fixture
def fresh_store(tmp_path: Path) -> Iterator[Path]:
    from tests.conftest import cxr_environment

    with cxr_environment(tmp_path / "home") as home:
        ensure_user()
        yield home


def _session_cookie(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    """The Set-Cookie header of a sign-in to an app built under `env`."""
    from dashboard.app import create_app

    for key in ("CXR_HTTPS", "CXR_SESSION_HOURS"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    client = create_app().server.test_client()
    response = post_login(client, TEST_ADMIN, TEST_PASSWORD)
    assert response.status_code == 302
    cookie = next(value for value in response.headers.getlist("Set-Cookie")
                  if value.startswith("cxr_session="))
    return cookie


def _attributes(cookie: str) -> dict[str, str]:
    return {part.split("=", 1)[0].strip().lower(): part.split("=", 1)[-1].strip()
            for part in cookie.split(";")[1:]}


def test_cookie_is_secure_only_over_https(fresh_store: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboard.serve_access import check_serve_access, parse_host

    plain = _attributes(_session_cookie(monkeypatch))
    assert "secure" not in plain
    assert "httponly" in plain and plain["samesite"] == "Strict"
    for value in ("1", "yes"):
        assert "secure" in _attributes(_session_cookie(monkeypatch, CXR_HTTPS=value))
    assert "secure" not in _attributes(_session_cookie(monkeypatch, CXR_HTTPS="0"))
    # `cxr serve --https` passes the flag, as an argument, to the app its workers serve.
    monkeypatch.delenv("CXR_HTTPS", raising=False)
    check_serve_access(parse_host("127.0.0.1"), no_auth=False, https=True)
    from dashboard.app import create_app

    response = post_login(create_app(https=True).server.test_client(), TEST_ADMIN,
                          TEST_PASSWORD)
    assert "secure" in _attributes(response.headers["Set-Cookie"])
    import os

    assert "CXR_HTTPS" not in os.environ


@pytest.mark.parametrize(("setting", "hours"), [(None, 12.0), ("2", 2.0), ("0.5", 0.5),
                                                ("not-a-number", 12.0), ("-3", 12.0)])
def test_session_expires_after_cxr_session_hours(fresh_store: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 setting: str | None, hours: float) -> None:
    env = {} if setting is None else {"CXR_SESSION_HOURS": setting}
    signed_in_at = datetime.now(UTC)
    expires = parsedate_to_datetime(_attributes(_session_cookie(monkeypatch, **env))["expires"])
    assert abs(expires - (signed_in_at + timedelta(hours=hours))) < timedelta(seconds=30)


def test_backoff_schedule_doubles_from_two_seconds_up_to_fifteen_minutes() -> None:
    from db.users import FREE_FAILURES, MAX_BACKOFF_SECONDS, backoff_seconds

    assert (FREE_FAILURES, MAX_BACKOFF_SECONDS) == (3, 900)
    assert [backoff_seconds(n) for n in range(14)] == [
        0, 0, 0, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]
    assert backoff_seconds(10_000) == 900


def test_each_failure_past_the_back_off_doubles_the_wait(
        fresh_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over HTTP, on a clock the test moves: 429 with Retry-After 2, then 4, then 8 s, each
    after a further failed try once the wait has passed; capped at 900 s."""
    import db.users
    from dashboard.app import create_app

    now = [datetime(2030, 1, 1)]
    monkeypatch.setattr(db.users, "utcnow", lambda: now[0])
    client = create_app().server.test_client()
    for _ in range(3):
        assert post_login(client, TEST_ADMIN, "wrong-password").status_code == 401
    waits = []
    for _ in range(4):
        now[0] += timedelta(milliseconds=1)  # a try comes a moment after the failure
        refused = post_login(client, TEST_ADMIN, TEST_PASSWORD)  # refused, even when right
        assert refused.status_code == 429
        waits.append(int(refused.headers["Retry-After"]))
        now[0] += timedelta(seconds=waits[-1] - 1)
        assert post_login(client, TEST_ADMIN, TEST_PASSWORD).status_code == 429  # not yet
        now[0] += timedelta(seconds=1)
        assert post_login(client, TEST_ADMIN, "wrong-password").status_code == 401
    assert waits == [2, 4, 8, 16]
    for _ in range(8):  # 32 ... 900 s
        now[0] += timedelta(seconds=900)
        assert post_login(client, TEST_ADMIN, "wrong-password").status_code == 401
    now[0] += timedelta(milliseconds=1)
    assert post_login(client, TEST_ADMIN, TEST_PASSWORD).headers["Retry-After"] == "900"
    now[0] += timedelta(seconds=900)
    assert post_login(client, TEST_ADMIN, TEST_PASSWORD).status_code == 302  # then it resets
