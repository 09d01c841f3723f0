"""`cxr serve --no-auth --host X` listens where the loopback check said, on the real socket.

The server's own listening sockets are read from /proc/<pid>/fd and /proc/net/tcp{,6} (no
psutil), so what is checked is what gunicorn bound, not what it printed. Refused spellings exit 2
with one `cxr: error:` line.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from db.audit import Actor
from db.users import add_user
from tests.reliability.served import REPO, free_port

LISTEN = "0A"


def _ipv6_loopback_works() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


def _proc_address(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """/proc/net/tcp{,6} write an address as 32-bit words in host (little-endian) order."""
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return ipaddress.ip_address(words)


def listening(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket process `pid` holds in LISTEN state."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port = fields[1].split(":")
            if fields[3] == LISTEN and fields[9] in inodes:
                found.add((str(_proc_address(address)), int(port, 16)))
    return found


def _serve(host: str, port: int, log_path: Path, *flags: str) -> subprocess.Popen:
    with open(log_path, "w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "engine.cli", "serve", "--host", host, "--port", str(port),
             "--workers", "1", *flags], cwd=REPO,
            env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=log, stderr=subprocess.STDOUT)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


# The spelling that bound 0.0.0.0 (IPv6 spelled out: gunicorn died on ::1 by the same misparse)
# and an IPv4 short form: few, as each boot costs seconds (test_serve_binds.py has the rest).
BOOTS = [("0:0:0:0:0:0:0:1", "::1"), ("127.1", "127.0.0.1")]


@pytest.mark.skipif(bool(os.environ.get("CXR_TEST_POSTGRES_URL")),
                    reason="the bound socket does not depend on the database: SQLite pass only")
def test_loopback_spellings_listen_on_loopback_only(cxr_home: Path, tmp_path: Path) -> None:
    boots = [(host, want) for host, want in BOOTS if ":" not in host or _ipv6_loopback_works()]
    servers = []
    try:
        for host, want in boots:  # started together: they boot in parallel
            port = free_port()
            log = tmp_path / f"serve-{len(servers)}.log"
            servers.append((host, want, port, log, _serve(host, port, log, "--no-auth")))
        for host, want, port, log, process in servers:
            deadline, bound = time.monotonic() + 120, set()
            while not bound and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.3)
                bound = listening(process.pid)
            assert bound, f"{host}: not listening:\n{log.read_text()[-2000:]}"
            assert all(port == on_port and ipaddress.ip_address(address).is_loopback
                       for address, on_port in bound), f"{host} listens on {bound}"
            assert bound == {(want, port)}, f"{host} listens on {bound}, not {want}"
    finally:
        for *_, process in servers:
            _stop(process)
    if len(boots) < len(BOOTS):
        pytest.skip("no IPv6 loopback here: the IPv6 spellings were not booted")


# One of each refusal through the real command line; the other spellings are unit-tested.
REFUSED = [("0", "only binds a loopback address"),
           ("no-such-host.invalid", "neither an IP address nor a name")]


@pytest.mark.skipif(bool(os.environ.get("CXR_TEST_POSTGRES_URL")),
                    reason="a refusal before any database use: SQLite pass only")
def test_open_or_unparseable_hosts_are_refused_in_one_line(cxr_home: Path,
                                                           tmp_path: Path) -> None:
    add_user("admin", "admin", "a-long-enough-password", Actor("tests"))
    runs = [(host, expected, ("--no-auth",)) for host, expected in REFUSED]
    # sign-in on and an admin: only the debugger (it runs code for whoever reaches it) refuses
    runs.append(("0.0.0.0", "Werkzeug debugger", ("--debug",)))
    processes = [(host, expected, _serve(host, 1, tmp_path / f"refused-{n}.log", *flags),
                  tmp_path / f"refused-{n}.log") for n, (host, expected, flags) in enumerate(runs)]
    for host, expected, process, log in processes:
        try:
            code = process.wait(timeout=120)
        finally:
            _stop(process)
        lines = log.read_text().strip().splitlines()
        assert code == 2, f"{host}: exit {code}\n{log.read_text()[-2000:]}"
        errors = [line for line in lines if line.startswith("cxr: error:")]
        assert len(errors) == 1 and expected in errors[0], f"{host}: {lines}"
        assert "Traceback" not in log.read_text()
