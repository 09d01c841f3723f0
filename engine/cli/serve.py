"""`cxr serve`: the dashboard's server runs as a process of its own (`python -m
dashboard.server`): the engine starts it by command line and never imports the dashboard."""

from __future__ import annotations

import argparse
import os
import sys

from engine.cli.options import DEVICE_HELP, Command, check_device


def server_argv(host: str, port: int, workers: int, *, debug: bool = False,
                no_auth: bool = False, https: bool = False, check_only: bool = False,
                device: str | None = None) -> list[str]:
    """The command line of the dashboard's server process (dashboard/server.py)."""
    flags = [flag for flag, on in (("--debug", debug), ("--no-auth", no_auth),
                                   ("--https", https), ("--check-only", check_only)) if on]
    if device:
        flags += ["--device", device]
    return [sys.executable, "-m", "dashboard.server", "--host", host, "--port", str(port),
            "--workers", str(workers), *flags]


def serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8050)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--debug", action="store_true", help="Dash dev server, debug on")
    parser.add_argument("--no-auth", action="store_true",
                        help="sign-in off: a local demo on a loopback address only")
    parser.add_argument("--https", action="store_true",
                        help="served over HTTPS (e.g. behind a TLS proxy): Secure session cookie")
    parser.add_argument("--device", help="where uploads are scored: " + DEVICE_HELP)


def cmd_serve(args: argparse.Namespace) -> int:
    """Hand over to `python -m dashboard.server` (same PID: Ctrl-C and the exit code are the
    server's), with the checked --device; the engine never imports the dashboard."""
    argv = server_argv(args.host, args.port, args.workers, debug=args.debug,
                       no_auth=args.no_auth, https=args.https,
                       device=check_device(args.device))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)
    return 0  # not reached


COMMANDS = {
    "serve": Command("serve the dashboard (gunicorn)", serve_arguments, cmd_serve),
}
