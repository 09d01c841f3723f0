"""Sign-in: hashed passwords, forged and expired sessions, back-off, cookie flags, safe serve."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from flask import Flask
from sqlalchemy import MetaData, select

from db.audit import Actor
from db.session import get_engine
from db.users import add_user, reset_password
from tests.auth_helpers import post_login, sign_in_client

REPO = Path(__file__).resolve().parents[2]
SECRET = "same-password-twice"


def _every_stored_value() -> list[str]:
    metadata = MetaData()
    engine = get_engine()
    metadata.reflect(engine)
    with engine.connect() as connection:
        return [str(value) for table in metadata.sorted_tables
                for row in connection.execute(select(table)) for value in row]


def test_hashes_are_salted_and_the_password_is_stored_nowhere(dash_app) -> None:
    from db.models import User
    from db.session import session_scope

    add_user("hash-one", "viewer", SECRET, Actor("tests"))
    add_user("hash-two", "viewer", SECRET, Actor("tests"))
    reset_password("hash-two", SECRET, Actor("tests"))  # set twice for the same user too
    with session_scope() as session:
        hashes = dict(session.execute(select(User.name, User.password_hash).where(
            User.name.in_(("hash-one", "hash-two")))).all())
    assert hashes["hash-one"] != hashes["hash-two"]
    assert all(value.startswith("scrypt:") for value in hashes.values())
    client = sign_in_client(dash_app.server.test_client(), "hash-two", SECRET)
    assert client.get("/_dash-layout").status_code == 200
    assert not [value for value in _every_stored_value() if SECRET in value]


def _forged_cookie(payload: dict, key: str) -> str:
    forger = Flask("forger")
    forger.secret_key = key
    return forger.session_interface.get_signing_serializer(forger).dumps(payload)


def test_forged_and_expired_sessions_are_refused(dash_app) -> None:
    server = dash_app.server
    client = sign_in_client(server.test_client())
    cookie = client.get_cookie("cxr_session")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Strict"
    assert client.get("/_dash-layout").status_code == 200
    admin_id = client.get_cookie("cxr_session").value  # a valid token signed by the server
    session = server.session_interface.get_signing_serializer(server).loads(admin_id)
    for forged in (_forged_cookie(session, "not-the-server-key"),  # signed with another key
                   admin_id[:-2] + ("AA" if not admin_id.endswith("AA") else "BB")):  # tampered
        attacker = server.test_client()
        attacker.set_cookie("cxr_session", forged)
        assert attacker.get("/_dash-layout").status_code == 401
        assert attacker.get("/errors").status_code == 302
    saved = server.permanent_session_lifetime
    server.permanent_session_lifetime = timedelta(seconds=1)
    try:
        time.sleep(2.5)
        assert client.get("/_dash-layout").status_code == 401  # expired: signed too long ago
    finally:
        server.permanent_session_lifetime = saved


def test_password_reset_ends_older_sessions(dash_app) -> None:
    add_user("reset-me", "viewer", "first-password", Actor("tests"))
    client = sign_in_client(dash_app.server.test_client(), "reset-me", "first-password")
    assert client.get("/_dash-layout").status_code == 200
    reset_password("reset-me", "second-password", Actor("tests"))
    assert client.get("/_dash-layout").status_code == 401


def test_repeated_failures_back_off(dash_app) -> None:
    add_user("slow-down", "viewer", "right-password", Actor("tests"))
    client = dash_app.server.test_client()
    for _ in range(3):
        assert post_login(client, "slow-down", "wrong").status_code == 401
    refused = post_login(client, "slow-down", "right-password")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert "try again" in refused.get_data(as_text=True)


def _serve(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", "serve", *args], cwd=REPO,
                          env=dict(os.environ), capture_output=True, text=True, timeout=120)


def test_serve_on_an_open_address_needs_an_admin(cxr_home: Path) -> None:
    result = _serve(["--host", "0.0.0.0", "--port", "1"])
    assert result.returncode == 2
    assert "no admin user exists" in result.stderr
    assert "cxr users add NAME --role admin" in result.stderr
    result = _serve(["--host", "0.0.0.0", "--port", "1", "--no-auth"])
    assert result.returncode == 2 and "only binds a loopback address" in result.stderr


def test_demo_on_an_open_address_is_refused_in_its_own_words(cxr_home: Path) -> None:
    """cxr demo passes --no-auth itself: its refusal must not tell the user to drop it."""
    result = subprocess.run([sys.executable, "-m", "engine.cli", "demo", "--host", "0.0.0.0"],
                            cwd=REPO, env=dict(os.environ), capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "cxr demo serves its dashboard with sign-in off" in result.stderr
    assert "drop --no-auth" not in result.stderr


def test_secret_key_is_made_once_private_and_reused(tmp_path: Path,
                                                    monkeypatch) -> None:  # noqa: ANN001
    from dashboard.auth import secret_key

    monkeypatch.delenv("CXR_SECRET_KEY", raising=False)
    first = secret_key(tmp_path / "home")
    assert secret_key(tmp_path / "home") == first and len(first) == 64  # workers, restarts
    assert (tmp_path / "home" / "secret_key").stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv("CXR_SECRET_KEY", "from-the-environment-" + "k" * 11)  # 32 bytes
    assert secret_key(tmp_path / "home") == b"from-the-environment-" + b"k" * 11
