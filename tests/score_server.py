"""A real dashboard server on a free port, and the Score page's upload callback over HTTP."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import requests
from werkzeug.serving import make_server

# The Score page's component ids, from dashboard/ids.py (the page module itself is never
# imported here: Dash imports pages under its own names, so it would register a second time).
from dashboard.ids import (  # noqa: E402, F401 - re-exported for the Score tests
    SCORE_CHALLENGERS,
    SCORE_FORCE,
    SCORE_HISTORY,
    SCORE_RESULTS,
    SCORE_RUNS,
    SCORE_UPLOAD,
)


@contextmanager
def serve_in_thread(flask_app) -> Iterator[str]:  # noqa: ANN001
    """Serve a Flask app on a free localhost port in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, flask_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@contextmanager
def live_dashboard() -> Iterator[str]:
    """Serve `dashboard.app.create_app()` in a thread; yields its base URL."""
    from dashboard.app import create_app

    with serve_in_thread(create_app().server) as url:
        yield url


def data_url(data: bytes, mime: str = "application/octet-stream") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def upload_request(contents: list[str], filenames: list[str],
                   run_ids: list[int] | None = None, force: bool = False,
                   challengers: bool = False) -> dict:
    """The body Dash's renderer POSTs when files are dropped on the Score page."""
    outputs = [(SCORE_RESULTS, "children"), (SCORE_HISTORY, "children"),
               (SCORE_UPLOAD, "contents")]
    return {
        "output": ".." + "...".join(f"{i}.{p}" for i, p in outputs) + "..",
        "outputs": [{"id": i, "property": p} for i, p in outputs],
        "inputs": [{"id": SCORE_UPLOAD, "property": "contents", "value": contents}],
        "changedPropIds": [f"{SCORE_UPLOAD}.contents"],
        "state": [{"id": SCORE_UPLOAD, "property": "filename", "value": filenames},
                  {"id": SCORE_RUNS, "property": "value", "value": run_ids or []},
                  {"id": SCORE_FORCE, "property": "value", "value": force},
                  {"id": SCORE_CHALLENGERS, "property": "value", "value": challengers}],
    }


def post_upload(base_url: str, contents: list[str], filenames: list[str],
                run_ids: list[int] | None = None, timeout: float = 120,
                force: bool = False) -> requests.Response:
    from tests.auth_helpers import admin_session

    return admin_session(base_url).post(
        f"{base_url}/_dash-update-component",
        data=json.dumps(upload_request(contents, filenames, run_ids, force)),
        headers={"Content-Type": "application/json"}, timeout=timeout)
