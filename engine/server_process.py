"""The dashboard's server runs as a process of its own (`python -m dashboard.server`): the
engine starts it by command line and never imports the dashboard package."""

from __future__ import annotations

import sys


def server_argv(host: str, port: int, workers: int, *, debug: bool = False,
                no_auth: bool = False, https: bool = False, check_only: bool = False) -> list[str]:
    """The command line of the dashboard's server process (dashboard/server.py)."""
    flags = [flag for flag, on in (("--debug", debug), ("--no-auth", no_auth),
                                   ("--https", https), ("--check-only", check_only)) if on]
    return [sys.executable, "-m", "dashboard.server", "--host", host, "--port", str(port),
            "--workers", str(workers), *flags]
