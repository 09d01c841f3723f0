"""`cxr serve`: gunicorn in production, Dash's dev server only with --debug."""

from __future__ import annotations

import argparse
import logging
import sys

from dashboard.serve_access import BindAddress, check_serve_access, parse_host
from db.errors import UserError
from db.migrate import init_db
from db.session import dispose_engines
from engine.inference.uploads import max_upload_mb

log = logging.getLogger(__name__)
MAX_PORT = 65535


def serve(address: BindAddress, port: int = 8050, workers: int = 2, debug: bool = False,
          no_auth: bool = False, https: bool = False, device: str | None = None) -> int:
    """Serve the dashboard on `address` (parsed from --host by `parse_host`) until interrupted.
    Returns the exit code.

    Sign-in is on unless `no_auth`; `no_auth` and `debug` are loopback only (serve_access.py).
    `https` sets Secure on the session cookie; uploads are scored on `device` (None: the default).
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: "
                                                   "%(message)s")
    init_db()  # once here, so the workers never race to migrate
    print(check_serve_access(address, no_auth, https, debug), flush=True)
    # Workers are forked from this process: a pooled database connection must not be shared
    # with them (two workers on one PostgreSQL socket corrupt its protocol stream).
    dispose_engines()
    if debug:
        from dashboard.app import create_app

        create_app(auth_enabled=not no_auth, https=https, device=device).run(
            host=str(address.address), port=port, debug=True)
        return 0
    from gunicorn.app.base import BaseApplication

    class DashboardApplication(BaseApplication):
        def load_config(self) -> None:
            # The canonical address, never the --host as typed: gunicorn reads "0:0:0:0:0:0:0:1:80"
            # as host 0 (every interface) and "::1:80" as no port at all.
            self.cfg.set("bind", address.bind(port))
            self.cfg.set("workers", max(int(workers), 1))
            self.cfg.set("timeout", 120)
            self.cfg.set("accesslog", None)
            self.cfg.set("errorlog", "-")
            # The app is built once, here, and the workers are forked from it: their start-up
            # checks cannot race each other, and a worker boots in milliseconds instead of
            # importing the dashboard again. Nothing has run a torch operation at this point
            # (cxr demo trains in another process), so no used thread pool is inherited.
            self.cfg.set("preload_app", True)
            self.cfg.set("post_fork", _worker_ready)

        def load(self):  # noqa: ANN202 - gunicorn calls this once, before forking
            from dashboard.app import create_server

            server = create_server(auth_enabled=not no_auth, https=https, device=device)
            # No pooled database connection may cross the fork (two workers on one
            # PostgreSQL socket corrupt its protocol stream): each worker opens its own.
            dispose_engines()
            return server

    print(f"CXR Lens dashboard on http://{address.bind(port)}/ ({workers} workers, Ctrl-C to stop)",
          flush=True)
    DashboardApplication().run()
    return 0


def _worker_ready(_server: object, worker: object) -> None:
    log.info("worker %d ready", worker.pid)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cxr serve", description="serve the dashboard")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8050)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--debug", action="store_true")
    parser.add_argument("--no-auth", action="store_true")
    parser.add_argument("--https", action="store_true")
    parser.add_argument("--device", help="where uploads are scored (checked by `cxr serve`)")
    parser.add_argument("--check-only", action="store_true",
                        help="only check that this address may be served, then exit")
    return parser


def main(argv: list[str] | None = None) -> int:
    """`python -m dashboard.server`: what `cxr serve` (and `cxr demo`) hand over to, so the
    engine's CLI never imports the dashboard. A refused start is a one-line error, exit 2."""
    args = _parser().parse_args(argv)
    try:
        max_upload_mb()  # a bad CXR_MAX_UPLOAD_MB is refused here, not in each worker
        if not 0 <= args.port <= MAX_PORT:
            raise UserError(f"--port {args.port}: use a port from 0 to {MAX_PORT}")
        if args.workers < 1:
            raise UserError(f"--workers {args.workers}: use at least 1")
        address = parse_host(args.host)
        if args.check_only:
            check_serve_access(address, args.no_auth, args.https, args.debug)
            return 0
        return serve(address, port=args.port, workers=args.workers, debug=args.debug,
                     no_auth=args.no_auth, https=args.https, device=args.device)
    except UserError as exc:
        print(f"cxr: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
