"""`cxr serve --workers 4` boots every time, even while another process uses the same home.

Every worker checks CXR_HOME on start-up; two of them (or a worker and any other `cxr`
command) once wrote and removed the same probe file, and the loser failed to boot.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.reliability.served import REPO, free_port

STARTS = 20
WORKERS = 4
AT_ONCE = 4  # servers started together in one wave
BOOT_S = 300

# Another process using the home: the start-up check every `cxr` command makes, in a loop.
HOME_USER = """
import sys
import time
from pathlib import Path
from db.session import StorageError, ensure_home
stop, checks, failures = Path(sys.argv[1]), 0, []
while not stop.exists():
    try:
        ensure_home()
    except StorageError as exc:
        failures.append(str(exc))
    checks += 1
    time.sleep(0.002)  # hundreds of checks a second, without taking a whole core from the servers
print(checks, len(failures), failures[:1], flush=True)
"""


def _start(log_path: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "engine.cli", "serve", "--port", str(port),
             "--workers", str(WORKERS)], cwd=REPO, env=env, stdout=log,
            stderr=subprocess.STDOUT)
    return process, f"http://127.0.0.1:{port}"


def _booted(process: subprocess.Popen, url: str, log_path: Path) -> bool | None:
    """True once every worker is ready and the server answers; False if it died."""
    if process.poll() is not None:
        return False
    if log_path.read_text(errors="replace").count(" ready") < WORKERS:
        return None
    try:
        urllib.request.urlopen(url + "/", timeout=10).read()
    except urllib.error.HTTPError:
        return True  # answered (401 until signed in)
    except OSError:
        return None
    return True


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)  # gunicorn's quick shutdown
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _wave(logs: list[Path], env: dict[str, str]) -> list[str]:
    """Start servers together; returns the failures (with their logs' tails)."""
    servers = [(*_start(log, env), log) for log in logs]
    failures, pending = [], list(servers)
    deadline = time.monotonic() + BOOT_S
    try:
        while pending and time.monotonic() < deadline:
            for server in list(pending):
                state = _booted(*server)
                if state is not None:
                    pending.remove(server)
                    if server[0].poll() is None:  # free the cores for the others, no waiting
                        server[0].send_signal(signal.SIGINT)
                    if not state:
                        failures.append(f"{server[2].name}:\n"
                                        f"{server[2].read_text(errors='replace')[-2000:]}")
            time.sleep(0.3)
        failures += [f"{log.name}: not booted in {BOOT_S} s" for _, _, log in pending]
    finally:
        for process, _, _ in servers:
            _stop(process)
    return failures


# The race is on the CXR_HOME folder, whatever the results database: one pass (SQLite's) is
# enough, and 100 worker boots are the costliest minutes of the suite.
@pytest.mark.skipif(bool(os.environ.get("CXR_TEST_POSTGRES_URL")),
                    reason="a file-system race: run in the SQLite pass only")
def test_serve_with_four_workers_boots_twenty_times_beside_another_process(
        cxr_home: Path, tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    failures: list[str] = []
    for first in range(0, STARTS, AT_ONCE):
        logs = [tmp_path / f"serve-{n}.log" for n in range(first, first + AT_ONCE)]
        if (first // AT_ONCE) % 2:  # every other wave alone; the rest beside the home user
            failures += _wave(logs, env)
            continue
        stop = tmp_path / f"stop-{first}"
        user = subprocess.Popen([sys.executable, "-c", HOME_USER, str(stop)], cwd=REPO,
                                env=env, stdout=subprocess.PIPE, text=True)
        try:
            failures += _wave(logs, env)
        finally:
            stop.touch()
            checks, failed, first_failure = user.communicate(timeout=60)[0].split(" ", 2)
        assert int(checks) > 0
        assert int(failed) == 0, f"the other process's own check failed: {first_failure}"
    assert not failures, "\n\n".join(failures)
