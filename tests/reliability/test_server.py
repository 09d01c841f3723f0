"""The server as deployed (`cxr serve`: gunicorn): debug off, errors generic in the page and
whole in the log, uploads over the limit refused with 413 before anything is read or decoded,
with the worker's resident memory flat across 50 of them."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select, update

from db import evaluations
from db.models import Evaluation, Upload
from db.session import session_scope
from engine.cli.main import build_parser
from tests.dashboard import dash_http
from tests.reliability.served import Served, cxr_serve, rss_kib
from tests.score_server import upload_request

LIMIT_MB = 1  # CXR_MAX_UPLOAD_MB: 1 MB a file, 10 MB a request
OVER_LIMIT_BYTES = 12 * 2**20
INTERNALS = ("Traceback", 'File "', "/work/", "site-packages", "SELECT", "[SQL", "sqlite3",
             "psycopg2", "KeyError", "ProgrammingError", "Werkzeug Debugger", "__debugger__")


@pytest.fixture(scope="module")
def served(trained_home: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One worker, so every request lands in the process whose memory is measured."""
    with cxr_serve(tmp_path_factory.mktemp("serve") / "serve.log", workers=1,
                   extra_env={"CXR_MAX_UPLOAD_MB": str(LIMIT_MB)}) as server:
        yield server


def _post_callback(served: Served, body: dict) -> requests.Response:
    return served.session.post(served.url + "/_dash-update-component", json=body, timeout=60)


def _assert_no_internals(text: str, what: str) -> None:
    for internal in INTERNALS:
        assert internal not in text, f"{what} shows {internal!r}: {text[:500]}"


def test_debug_is_off_by_default(served: Served) -> None:
    from dashboard.app import create_app

    assert build_parser().parse_args(["serve"]).debug is False
    assert create_app().server.debug is False
    shell = served.session.get(served.url + "/errors", timeout=30).text
    config = json.loads(re.search(r'id="_dash-config" type="application/json">(.*?)</script>',
                                  shell, re.S).group(1))
    assert config["ui"] is False and config["props_check"] is False  # Dash dev tools off
    # No Werkzeug debugger or console is mounted: its URLs get the page shell, never its code.
    for path in ("/?__debugger__=yes&cmd=resource&f=debugger.js", "/console"):
        response = served.session.get(served.url + path, timeout=30)
        assert response.headers["Content-Type"].startswith("text/html")
        assert "_dash-config" in response.text  # the shell (it echoes the URL in a meta tag)
        for marker in ("EVALEX", "CONSOLE_MODE", "SECRET =", "openShell", "Werkzeug Debugger"):
            assert marker not in response.text, (path, marker)
    # A request for an output no callback has is refused by the access guard (403) before Dash
    # sees it: a generic answer.
    response = _post_callback(served, {
        "output": "no-such.children", "outputs": {"id": "no-such", "property": "children"},
        "inputs": [{"id": "x", "property": "value", "value": 1}], "changedPropIds": []})
    assert response.status_code == 403
    _assert_no_internals(response.text, "the refusal")
    assert response.json() == {"error": "this request is not served"}
    log = served.log()
    assert "gunicorn" in log.lower() and "Debug mode: on" not in log


def _error_banner(response: requests.Response) -> str:
    assert response.status_code == 200, response.text[:300]
    alert = response.json()["sideUpdate"]["shell-error-alert"]
    assert alert["is_open"] is True
    return alert["children"]


def test_callback_exception_is_generic_in_page_and_whole_in_log(
        served: Served, trained_home: dict) -> None:
    client = _Client(served.url)
    client.cookies.update(served.session.cookies)  # signed in as the test admin
    deps = dash_http.dependencies(client)
    run_id = trained_home["run_ids"][0]

    # A malformed payload: a run id that is an object, which the database driver refuses.
    banner = _error_banner(_post_callback(served, dash_http.recompute_body(
        deps, {"$ne": 1}, "test", 0.5)))
    _assert_no_internals(banner, "the banner")
    reference = re.search(r"reference ([0-9a-f]{8})", banner).group(1)
    assert banner.startswith("Something went wrong") and "server log" in banner

    # A database row that breaks a builder: a ROC curve without its arrays.
    evaluation_id = evaluations.evaluation_id_for(run_id, "test")
    with session_scope() as session:
        saved = session.scalar(select(Evaluation.roc_curve).where(Evaluation.id == evaluation_id))
    with session_scope(write=True) as session:
        session.execute(update(Evaluation).where(Evaluation.id == evaluation_id)
                        .values(roc_curve={"broken": True}))
    try:
        broken = _error_banner(_post_callback(served, dash_http.recompute_body(
            deps, run_id, "test", 0.5)))
    finally:
        with session_scope(write=True) as session:
            session.execute(update(Evaluation).where(Evaluation.id == evaluation_id)
                            .values(roc_curve=saved))
    _assert_no_internals(broken, "the banner")
    second = re.search(r"reference ([0-9a-f]{8})", broken).group(1)

    time.sleep(0.5)  # the worker's log line reaches the file
    log = served.log()
    for ref, cause in ((reference, "ProgrammingError"), (second, "KeyError: 'fpr'")):
        entry = log[log.index(f"dashboard callback failed (reference {ref})"):]
        assert "Traceback (most recent call last)" in entry.split("dashboard callback failed")[1]
        assert cause in entry
    # The page still works afterwards.
    status, body = dash_http.post(client, dash_http.recompute_body(
        deps, run_id, "test", 0.5))
    assert status == 200 and sum(dash_http.cell_counts(body).values()) > 0


class _Client(requests.Session):
    """A requests session for tests/dashboard/dash_http.py: it knows the server's base URL."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url

    def get(self, url: str, **kwargs):  # noqa: ANN003, ANN201 - requests' own signature
        return super().get(url if url.startswith("http") else self.base_url + url, **kwargs)


def _uploads() -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(Upload))


def _memory(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            fields[line.split(":")[0]] = int(line.split()[1])
    return fields


def _read_response(sock: socket.socket) -> bytes:
    """Headers and body of one response (the server may reset the socket right after it)."""
    data = b""
    while True:
        head, _, body = data.partition(b"\r\n\r\n")
        length = re.search(rb"Content-Length: (\d+)", head, re.I)
        if length and len(body) >= int(length.group(1)):
            return data
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def test_upload_over_limit_is_413_before_reading_and_memory_stays_flat(
        served: Served) -> None:
    body = json.dumps(upload_request(
        ["data:image/png;base64," + "iVBORw0KGgo" + "A" * OVER_LIMIT_BYTES], ["big.png"])).encode()
    uploads_before = _uploads()
    log_before = len(served.log())
    (worker,) = served.worker_pids()

    # Declared size over the limit, body barely started: the 413 comes back at once, so the
    # server answered from Content-Length alone, before reading (let alone decoding) the body.
    with socket.create_connection(("127.0.0.1", served.port), timeout=30) as sock:
        sock.sendall(b"POST /_dash-update-component HTTP/1.1\r\nHost: localhost\r\n"
                     b"Content-Type: application/json\r\n"
                     + f"Content-Length: {64 * 2**20}\r\n\r\n".encode() + body[:65536])
        answer = _read_response(sock)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"upload too large" in answer

    def over_limit() -> requests.Response:
        return requests.post(served.url + "/_dash-update-component", data=body,
                             headers={"Content-Type": "application/json"}, timeout=60)

    for _ in range(3):  # warm: the first error responses allocate their code paths once
        assert over_limit().status_code == 413
    before = _memory(worker)
    started = time.perf_counter()
    statuses = [over_limit().status_code for _ in range(50)]
    seconds = time.perf_counter() - started
    after = _memory(worker)

    growth_kib = after["VmRSS"] - before["VmRSS"]
    report = (f"\n50 uploads of {len(body) / 2**20:.1f} MiB (limit {LIMIT_MB * 10} MiB a request) "
          f"-> 413 in {seconds:.2f} s; worker {worker} VmRSS {before['VmRSS']} -> "
          f"{after['VmRSS']} KiB ({growth_kib:+d} KiB), peak VmHWM {before['VmHWM']} -> "
          f"{after['VmHWM']} KiB; master VmRSS {rss_kib(served.process.pid)} KiB")
    print("\n" + report)
    assert statuses == [413] * 50, statuses
    assert served.worker_pids() == [worker], report  # the same worker, never restarted
    assert _uploads() == uploads_before  # nothing decoded, nothing stored
    # One buffered body would be 12 MiB; flat means well under that, at the peak too.
    assert growth_kib < 4 * 1024, report
    assert after["VmHWM"] - before["VmHWM"] < 4 * 1024, report
    time.sleep(0.5)
    log = served.log()[log_before:]
    assert "Traceback" not in log, log[-3000:]  # refused cleanly, not by an exception
