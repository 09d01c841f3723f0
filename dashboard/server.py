"""`cxr serve`: gunicorn in production, Dash's dev server only with --debug."""

from __future__ import annotations

import logging
import os

from dashboard.serve_access import check_serve_access
from db.migrate import init_db
from db.session import dispose_engines

log = logging.getLogger(__name__)


def serve(host: str = "127.0.0.1", port: int = 8050, workers: int = 2,
          debug: bool = False, no_auth: bool = False, https: bool = False) -> int:
    """Serve the dashboard until interrupted. Returns the exit code.

    Sign-in is on unless `no_auth` (loopback only); see dashboard/serve_access.py.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: "
                                                   "%(message)s")
    init_db()  # once here, so the workers never race to migrate
    print(check_serve_access(host, no_auth, https), flush=True)
    # Workers are forked from this process: a pooled database connection must not be shared
    # with them (two workers on one PostgreSQL socket corrupt its protocol stream).
    dispose_engines()
    if debug:
        from dashboard.app import create_app

        create_app(auth_enabled=not no_auth).run(host=host, port=port, debug=True)
        return 0
    from gunicorn.app.base import BaseApplication

    class DashboardApplication(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", max(int(workers), 1))
            self.cfg.set("timeout", 120)
            self.cfg.set("accesslog", None)
            self.cfg.set("errorlog", "-")

        def load(self):  # noqa: ANN202 - gunicorn calls this in each worker
            from dashboard.app import create_server

            server = create_server(auth_enabled=not no_auth)
            log.info("worker %d ready", os.getpid())
            return server

    print(f"CXR Lens dashboard on http://{host}:{port}/ ({workers} workers, Ctrl-C to stop)",
          flush=True)
    DashboardApplication().run()
    return 0
