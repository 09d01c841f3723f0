"""`cxr serve` (gunicorn, as in production) on a free localhost port, for the reliability tests.

The server is a separate process, so its log, its workers' resident memory and its latency are
those of the real thing, not of a thread sharing the test's interpreter.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Served:
    url: str
    port: int
    process: subprocess.Popen
    log_path: Path

    @cached_property
    def session(self):  # noqa: ANN201 - a requests.Session
        """A requests session signed in as the test admin (made in the served store)."""
        from tests.auth_helpers import signed_in_session

        return signed_in_session(self.url)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def worker_pids(self) -> list[int]:
        """The gunicorn workers: children of the `cxr serve` (gunicorn master) process."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return sorted(int(pid) for pid in children.read_text().split())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_kib(pid: int) -> int:
    """Resident memory of a process, from /proc/<pid>/status (VmRSS, in KiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise LookupError(f"no VmRSS for process {pid}")


@contextmanager
def cxr_serve(log_path: Path, workers: int = 2, extra_env: dict[str, str] | None = None,
              ) -> Iterator[Served]:
    """Run `cxr serve` on the store the environment points at; stop it afterwards."""
    port = free_port()
    env = {**os.environ, **(extra_env or {})}
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "engine.cli", "serve", "--port", str(port),
             "--workers", str(workers)], cwd=REPO, env=env, stdout=log,
            stderr=subprocess.STDOUT)
    served = Served(f"http://127.0.0.1:{port}", port, process, log_path)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                # The sign-in page: the one page that answers without a session.
                urllib.request.urlopen(served.url + "/login", timeout=10).read()
                if len(served.worker_pids()) == workers:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"cxr serve did not start:\n{served.log()[-3000:]}")
            time.sleep(0.3)
        yield served
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
