"""The shell and its callbacks, driven over Dash's HTTP callback endpoint (no browser)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dash
import pytest

from dashboard import ids
from db import evaluations, gallery, runs
from engine.evaluation.metrics import binary_metrics
from tests.auth_helpers import sign_in_client
from tests.dashboard import dash_http

REPO = Path(__file__).resolve().parents[2]


def _navbar_links(component: object) -> list[tuple[str, str]]:
    """(text, href) of every NavLink under the layout's navbar, in order."""
    if isinstance(component, list):
        return [link for child in component for link in _navbar_links(child)]
    if not isinstance(component, dict):
        return []
    props = component.get("props", {})
    own = ([(props["children"], props["href"])]
           if component.get("type") == "NavLink" and props.get("href") else [])
    return own + _navbar_links(props.get("children"))


def _find(component: object, component_id: str) -> dict | None:
    if isinstance(component, list):
        return next((found for child in component if (found := _find(child, component_id))),
                    None)
    if not isinstance(component, dict):
        return None
    props = component.get("props", {})
    return component if props.get("id") == component_id else _find(props.get("children"),
                                                                     component_id)


def test_navbar_lists_every_registered_page(client) -> None:
    pages = [page for page in dash.page_registry.values() if page.get("nav", True)]
    paths = {page["path"] for page in dash.page_registry.values()}
    assert {"/", "/errors", "/compare", "/dataset"} <= paths
    navbar = _find(client.get("/_dash-layout").get_json(), ids.NAVBAR)
    links = [(text, href) for text, href in _navbar_links(navbar) if "logout" not in href]
    # The signed-in admin sees one link per registered page, by its name, in registry order.
    assert links == [(page["name"], page["relative_path"]) for page in pages]
    deps = dash_http.dependencies(client)
    for text, href in links:
        assert client.get(href).status_code == 200
        status, body = dash_http.post(client, dash_http.page_body(deps, href))
        assert status == 200, href
        assert "Page not found" not in str(body["response"]["_pages_content"]), href
        assert body["response"]["_pages_store"]["data"]["title"].endswith(text), href
    status, body = dash_http.post(client, dash_http.page_body(deps, "/no-such-page"))
    assert "Page not found" in str(body["response"]["_pages_content"])  # the check can fail


def test_runs_page_at_root_and_at_slash_runs(client, trained_home: dict) -> None:
    deps = dash_http.dependencies(client)
    for pathname, search in (("/", ""), ("/runs", ""), ("/runs/", ""),
                             ("/runs", f"?runs={trained_home['run_ids'][1]}")):
        status, body = dash_http.post(client, dash_http.page_body(deps, pathname, search))
        assert status == 200
        page = str(body["response"]["_pages_content"]["children"])
        assert ids.RUNS_TABLE in page and "Page not found" not in page, pathname
        assert body["response"]["_pages_store"]["data"]["title"] == "CXR Lens · Runs"
        if search:  # the query still selects rows under the alias
            assert f"'selected_row_ids': [{trained_home['run_ids'][1]}]" in page
    navbar = client.get("/runs").get_data(as_text=True)
    assert client.get("/runs").status_code == 200 and "CXR Lens" in navbar
    assert [page["name"] for page in dash.page_registry.values()
            if page.get("nav", True)].count("Runs") == 1


def test_threshold_recompute_and_drill_down(client, trained_home: dict) -> None:
    deps = dash_http.dependencies(client)
    run_id = trained_home["run_ids"][0]
    evaluation_id = evaluations.evaluation_id_for(run_id, "test")
    scored = evaluations.evaluation_arrays(evaluation_id)
    probability, labels = scored.probability, scored.true_label
    for threshold in (0.3, 0.6):
        status, body = dash_http.post(client, dash_http.recompute_body(deps, run_id, "test",
                                                                        threshold))
        assert status == 200
        counts = dash_http.cell_counts(body)
        expected = binary_metrics(labels, probability, threshold)
        assert counts == {c: getattr(expected, c) for c in dash_http.CELLS}
        assert sum(counts.values()) == len(labels)
        status, body = dash_http.post(client, dash_http.drill_down_body(
            deps, run_id, "test", threshold, "fn", sort="probability_asc"))
        shown = dash_http.gallery_image_ids(body)
        items = gallery.cell_images(evaluations.evaluation_id_for(run_id, "test"), "fn",
                                    threshold, "probability_asc").items
        assert shown == [item.image_id for item in items] and len(shown) == counts["fn"]


def test_runs_table_callback(client, trained_home: dict) -> None:
    status, body = dash_http.post(client, dash_http.runs_table_body(
        dash_http.dependencies(client)))
    assert status == 200
    rows = body["response"][ids.RUNS_TABLE]["data"]
    assert sorted(row["id"] for row in rows) == sorted(trained_home["run_ids"])
    assert all(row["data_kind"] == "real" for row in rows)


def test_presets_and_callback_errors(client, trained_home: dict,
                                     caplog: pytest.LogCaptureFixture) -> None:
    deps = dash_http.dependencies(client)
    run_id = trained_home["run_ids"][0]
    status, body = dash_http.post(client, dash_http.preset_body(deps, run_id, "youden"))
    assert status == 200
    assert abs(body["response"][ids.ERR_THRESHOLD]["value"] - runs.find_run(
        run_id).threshold) < 1e-3  # Youden on val is the run's own operating threshold
    # A run with no val evaluation: the callback raises; the user sees a message, not a 500.
    status, body = dash_http.post(client, dash_http.preset_body(deps, run_id, "fixed:0.5"))
    assert status == 200 and body["response"][ids.ERR_THRESHOLD]["value"] == 0.5
    status, body = dash_http.post(client, dash_http.preset_body(deps, 10**6,
                                                                "sensitivity:0.95"))
    assert status == 200
    message = body["sideUpdate"][ids.ERROR_ALERT]
    assert message["is_open"] and "no val evaluation" in message["children"]
    assert "Traceback" not in message["children"]
    assert any("callback failed" in record.message and record.exc_info
               for record in caplog.records)


def test_oversized_requests_get_a_clear_413(dash_app) -> None:
    server = dash_app.server
    saved = server.config["MAX_CONTENT_LENGTH"]
    server.config["MAX_CONTENT_LENGTH"] = 1024
    try:
        client = sign_in_client(server.test_client())
        response = client.post("/_dash-update-component", data=b"x" * 4096,
                               content_type="application/json")
    finally:
        server.config["MAX_CONTENT_LENGTH"] = saved
    assert response.status_code == 413
    assert "upload too large" in response.get_json()["error"]


def test_every_page_explains_an_empty_database(dash_app, cxr_home: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXR_HOME", str(cxr_home))
    for page in dash.page_registry.values():
        if page["path"] in ("/", "/errors", "/compare", "/dataset"):
            rendered = str(page["layout"]())
            assert "cxr demo" in rendered and "cxr train --arch resnet18" in rendered


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_cxr_serve_runs_gunicorn(trained_home: dict) -> None:
    port = _free_port()
    env = {**os.environ, "CXR_HOME": str(trained_home["home"])}
    process = subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", "--port", str(port),
                                "--workers", "1"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        deadline, page = time.monotonic() + 60, None
        while time.monotonic() < deadline and page is None:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/errors", timeout=5).read()
            except OSError:
                time.sleep(0.3)
        assert page is not None and b"CXR Lens" in page
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0]
    assert "gunicorn" in output.lower()
