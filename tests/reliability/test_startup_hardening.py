"""Start-up hardening: a short CXR_SECRET_KEY stops `cxr serve`; CXR_HOME and cxr.db are private.

The home holds patients' images (runs, uploads, thumbnails), so it is made 0700 with its image
folders, and a SQLite database 0600; an existing home open to others is warned about.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from db.errors import UserError
from db.session import get_engine
from tests.reliability.served import REPO


def _cxr(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=REPO,
                          env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=120)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_short_secret_key_stops_serve_in_one_line(cxr_home: Path) -> None:
    result = _cxr("serve", "--port", "1", CXR_SECRET_KEY="x" * 31)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("cxr: error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr
    assert "CXR_SECRET_KEY is 31 bytes" in errors[0]
    assert "secrets.token_hex(32)" in errors[0]


def test_secret_key_needs_32_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboard.auth import secret_key

    monkeypatch.setenv("CXR_SECRET_KEY", "k" * 31)
    with pytest.raises(UserError, match="CXR_SECRET_KEY"):
        secret_key(tmp_path)
    monkeypatch.setenv("CXR_SECRET_KEY", "k" * 32)
    assert secret_key(tmp_path) == b"k" * 32
    monkeypatch.delenv("CXR_SECRET_KEY")
    assert len(secret_key(tmp_path / "new-home")) == 64
    assert _mode(tmp_path / "new-home") == 0o700


def test_a_new_home_and_its_database_are_private(cxr_home: Path) -> None:
    """cxr_home is a new home upgraded by init_db, on SQLite or (CI's second pass) PostgreSQL:
    the home and its image folders are there either way."""
    assert _mode(cxr_home) == 0o700
    for folder in ("artifacts", "cache"):  # runs and uploads; thumbnails
        assert _mode(cxr_home / folder) == 0o700, folder
    if get_engine().dialect.name == "sqlite":
        with get_engine().begin() as connection:  # a write: the WAL file appears
            connection.exec_driver_sql("CREATE TABLE IF NOT EXISTS probe (id INTEGER)")
        written = [path for path in cxr_home.iterdir() if path.name.startswith("cxr.db")]
        assert {path.name for path in written} >= {"cxr.db", "cxr.db-wal"}
        assert all(_mode(path) == 0o600 for path in written), [
            (path.name, oct(_mode(path))) for path in written]


def test_an_existing_home_open_to_others_is_warned_about(tmp_path: Path) -> None:
    home = tmp_path / "shared-home"
    home.mkdir(mode=0o755)
    os.chmod(home, 0o755)
    result = _cxr("runs", CXR_HOME=str(home))
    assert result.returncode == 0, result.stderr
    assert f"CXR_HOME={home} can be read by other users (mode 755)" in result.stderr
    assert "chmod -R go-rwx" in result.stderr
    private = tmp_path / "private-home"
    result = _cxr("runs", CXR_HOME=str(private))
    assert result.returncode == 0 and "other users" not in result.stderr
    assert _mode(private) == 0o700
