"""Bad option values and settings end in one line naming them and exit code 2: never a
traceback, and never minutes of work first."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def _cxr(args: list[str], home: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith("CXR_")} | {"CXR_HOME": str(home), **env}
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=REPO,
                          env=environment, capture_output=True, text=True, timeout=300)


def _refused(done: subprocess.CompletedProcess, *words: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    # ours say "cxr: error:"; argparse's say "cxr COMMAND: error:" after the usage lines
    assert re.match(r"cxr( [a-z-]+)?: error:", last) and all(w in last for w in words), last


@pytest.mark.parametrize(("args", "env", "words"), [
    (["serve", "--port", "99999"], {}, ("--port 99999",)),
    (["serve", "--port", "-1"], {}, ("--port -1",)),
    (["serve", "--workers", "0"], {}, ("--workers 0",)),
    (["serve"], {"CXR_MAX_UPLOAD_MB": "nan"}, ("CXR_MAX_UPLOAD_MB",)),
    (["serve"], {"CXR_MAX_UPLOAD_MB": "inf"}, ("CXR_MAX_UPLOAD_MB",)),
    (["runs"], {"CXR_DATABASE_URL": "garbage"}, ("CXR_DATABASE_URL",)),
    (["runs"], {"CXR_DATABASE_URL": "mysql://user:secret@host/db"}, ("CXR_DATABASE_URL",)),
    (["score", "x.jpeg"], {"CXR_DEVICE": "tpu"}, ("CXR_DEVICE='tpu'",)),
    (["calibrate", "1", "--data", "x", "--batch-size", "0"], {}, ("--batch-size", "give 1")),
    (["adapt", "1", "--data", "x", "--batch-size", "-4"], {}, ("--batch-size", "give 1")),
    (["attention", "1", "--seed", "-1"], {}, ("--seed", "-1: give 0 or more")),
    (["road", "1", "--sample", "0"], {}, ("--sample", "give 1")),
    (["road", "1", "--sample", "many"], {}, ("--sample", "'many' is not a whole number")),
    (["train", "--data", "x", "--seed", "-1"], {}, ("--seed must be at least 0",)),
])
def test_bad_values_are_one_line_and_exit_2(tmp_path: Path, args: list[str], env: dict,
                                            words: tuple[str, ...]) -> None:
    done = _cxr(args, tmp_path / "home", **env)
    _refused(done, *words)
    assert "secret" not in done.stderr  # a database URL's password is never echoed


def test_demo_refuses_a_bad_port_or_count_before_any_work(tmp_path: Path) -> None:
    for args, words in ((["--port", "99999"], ("--port 99999",)),
                        (["--epochs", "0", "--no-serve"], ("--epochs 0",))):
        start = time.monotonic()
        done = _cxr(["demo", *args], tmp_path / "home")
        _refused(done, *words)
        assert time.monotonic() - start < 120 and "generating" not in done.stdout


def test_session_hours_that_are_not_a_number_fall_back_with_a_warning(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboard.auth import DEFAULT_SESSION_HOURS, session_hours

    for value in ("inf", "1e400", "nan", "-3", "abc", "100000"):
        monkeypatch.setenv("CXR_SESSION_HOURS", value)
        caplog.clear()
        assert session_hours() == DEFAULT_SESSION_HOURS
        assert "CXR_SESSION_HOURS" in caplog.text, value
    monkeypatch.setenv("CXR_SESSION_HOURS", "2")
    assert session_hours() == 2.0
