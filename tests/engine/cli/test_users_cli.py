"""`cxr users ...` (the only way to create an admin) and `cxr audit`, on a real store."""

from __future__ import annotations

import getpass
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli.main import EXIT_USER_ERROR, main

PASSWORD = "a-long-password"
CLI_ACTOR = f"cli:{getpass.getuser()}"


def cxr(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, *args: str,
        stdin: str = "") -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `cxr ARGS` run in this process, stdin piped."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def _users(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> dict[str, tuple]:
    code, out, _ = cxr(capsys, monkeypatch, "users", "list")
    assert code == 0
    return {line.split()[0]: tuple(line.split()[1:3]) for line in out.splitlines()}


def test_users_lifecycle_and_its_audit(cxr_home: Path, capsys: pytest.CaptureFixture,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from db.users import sign_in

    code, out, _ = cxr(capsys, monkeypatch, "users", "list")
    assert code == 0 and "no users yet: add one with `cxr users add NAME --role admin`" in out
    code, out, _ = cxr(capsys, monkeypatch, "users", "add", "ana", "--role", "admin",
                       stdin=PASSWORD + "\n")
    assert (code, out.strip()) == (0, "user ana added with role admin")
    assert cxr(capsys, monkeypatch, "users", "add", "ben", "--role", "viewer",
               stdin=PASSWORD + "\n")[0] == 0
    assert _users(capsys, monkeypatch) == {"ana": ("admin", "active"),
                                           "ben": ("viewer", "active")}
    code, out, _ = cxr(capsys, monkeypatch, "users", "set-role", "ben", "uploader")
    assert code == 0 and "ben now has role uploader" in out
    code, out, _ = cxr(capsys, monkeypatch, "users", "disable", "ben")
    assert code == 0 and "ben is disabled" in out
    assert _users(capsys, monkeypatch)["ben"] == ("uploader", "disabled")
    code, out, _ = cxr(capsys, monkeypatch, "users", "enable", "ben")
    assert code == 0 and "ben is enabled" in out
    code, out, _ = cxr(capsys, monkeypatch, "users", "reset-password", "ben",
                       stdin="another-password\n")
    assert code == 0 and "password of ben reset" in out

    code, out, _ = cxr(capsys, monkeypatch, "audit")
    lines = out.splitlines()
    actions = ["user added", "user added", "role changed", "user disabled", "user enabled",
               "password reset"]
    assert [next(a for a in actions if f" {a} " in line) for line in lines] == actions
    assert all(CLI_ACTOR in line for line in lines)  # oldest first, each by the CLI's login
    assert "ben" in lines[2] and "(viewer -> uploader)" in lines[2]
    code, out, _ = cxr(capsys, monkeypatch, "audit", "--action", "role changed")
    assert code == 0 and len(out.splitlines()) == 1 and "role changed" in out
    code, out, _ = cxr(capsys, monkeypatch, "audit", "--limit", "2")
    assert [line.split()[-1] for line in out.splitlines()] == ["ben", "ben"]
    assert "user enabled" in out and "password reset" in out  # the newest two
    code, out, _ = cxr(capsys, monkeypatch, "audit", "--user", CLI_ACTOR)
    assert len(out.splitlines()) == len(actions)
    code, out, _ = cxr(capsys, monkeypatch, "audit", "--user", "nobody")
    assert (code, out.strip()) == (0, "no audit events match")
    assert sign_in("ben", "another-password").user.role == "uploader"
    assert sign_in("ben", PASSWORD).user is None
    assert sign_in("ana", PASSWORD).user.role == "admin"


@pytest.mark.parametrize(("args", "stdin", "message"), [
    (["users", "add", "cat", "--role", "boss"], PASSWORD,
     "unknown role 'boss': choose one of viewer, reviewer, uploader, admin"),
    (["users", "add", "bad name", "--role", "viewer"], PASSWORD, "user name 'bad name': use"),
    (["users", "add", "cat", "--role", "viewer"], "short",
     "the password is 5 characters; use at least 8"),
    (["users", "add", "cat", "--role", "viewer"], "", "no password on stdin: pipe one line"),
    (["users", "add", "ana", "--role", "viewer"], PASSWORD, "user 'ana' already exists"),
    (["users", "set-role", "ghost", "admin"], "", "no user named 'ghost'"),
    (["users", "set-role", "ana", "root"], "", "unknown role 'root'"),
    (["users", "disable", "ghost"], "", "no user named 'ghost'"),
    (["users", "enable", "ghost"], "", "no user named 'ghost'"),
    (["users", "reset-password", "ana"], "tiny", "the password is 4 characters"),
])
def test_bad_users_commands_say_why_and_change_nothing(
        cxr_home: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
        args: list[str], stdin: str, message: str) -> None:
    from db.audit import recent
    from db.users import sign_in

    assert cxr(capsys, monkeypatch, "users", "add", "ana", "--role", "admin",
               stdin=PASSWORD + "\n")[0] == 0
    before = _users(capsys, monkeypatch)
    events = len(recent())
    code, out, err = cxr(capsys, monkeypatch, *args, stdin=stdin + "\n" if stdin else "")
    assert code == EXIT_USER_ERROR == 2, (out, err)
    assert err.startswith("cxr: error: ") and message in err and "Traceback" not in err
    assert _users(capsys, monkeypatch) == before and len(recent()) == events
    assert sign_in("ana", PASSWORD).user is not None


def test_users_add_without_role_is_a_usage_error(cxr_home: Path, capsys: pytest.CaptureFixture,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = cxr(capsys, monkeypatch, "users", "add", "ana", stdin=PASSWORD + "\n")
    assert code == 2 and "the following arguments are required: --role" in err


def test_users_add_reads_the_password_piped_to_the_command(cxr_home: Path) -> None:
    """The README's `printf '%s\\n' "$PW" | cxr users add ana --role admin`, as a process."""
    from db.users import list_users, sign_in

    result = subprocess.run([sys.executable, "-m", "engine.cli", "users", "add", "ana", "--role",
                             "admin"], input=PASSWORD + "\n", capture_output=True, text=True,
                            env=dict(os.environ), timeout=120)
    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    assert [(user.name, user.role) for user in list_users()] == [("ana", "admin")]
    assert sign_in("ana", PASSWORD).user is not None
