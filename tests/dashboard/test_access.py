"""Every route and every callback the app registers, without a session and with each role.

The routes come from the Flask url_map and the callbacks from app.callback_map, so a route or
callback added later is tried too; the roles expected are written out here
(viewer: runs, errors, compare; reviewer: + reviews; uploader: + uploads; admin: + users), so
an endpoint this table does not know fails the test until someone decides its role.
"""

from __future__ import annotations

import re

import dash
import pytest

from db.models import USER_ROLES
from db.users import role_rank
from tests.auth_helpers import ensure_user, sign_in_client
from tests.dashboard.dash_http import declared_body

PASSWORD = "role-test-password"
PAGE_ROLES = {"/": "viewer", "/runs": "viewer", "/errors": "viewer", "/compare": "viewer",
              "/map": "viewer", "/dataset": "viewer", "/score": "uploader", "/audit": "admin"}
PUBLIC = {"static", "_dash_assets.static", "/_favicon.ico", "auth.login", "auth.logout",
          "/_dash-component-suites/<string:package_name>/<path:fingerprinted_path>"}
ROUTE_ROLES = {"files.image": "viewer", "files.thumb": "viewer", "files.cam": "viewer",
               "files.cam_thumb": "viewer", "files.not_a_file_route": "viewer",
               "attention_files.lung_outline": "viewer", "files.upload": "uploader",
               "files.upload_cam": "uploader", "report_files.download": "viewer",
               "/_dash-layout": "viewer",
               "/_dash-dependencies": "viewer", "/_reload-hash": "viewer"}
PAGE_ENDPOINTS = {"/", "/<path:path>"}
CALLBACK_ENDPOINT = "/_dash-update-component"
# Callbacks whose role is above their page's.
CALLBACK_OVERRIDES = {"save_review": "reviewer", "promote_run": "admin", "demote_alias": "admin",
                      "save_verdict": "reviewer", "show_queue": "viewer",
                      # dashboard/slices_view.py: the Slices tables of Errors and Compare
                      "errors_slices": "viewer", "choose_slice": "viewer",
                      "clear_slice": "viewer", "clear_enabled": "viewer",
                      "compare_slices": "viewer"}
IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"DICM")
# What a role allowed on a route gets when that is not 200: anything else under /files is a 404.
ALLOWED_STATUS = {"/files/nothing-here": 404,
                  # no runs named: one plain line, 400 (test_report_download covers the report)
                  "/report/download": 400}


@pytest.fixture(scope="module")
def ids_in_store(trained_home: dict) -> dict:
    """Real ids for every route argument: an image, a prediction, an upload and its score."""
    from db import evaluations, gallery
    from db.uploads import upload_history
    from engine.inference.uploads import score_upload_bytes

    evaluation_id = evaluations.evaluation_id_for(trained_home["run_ids"][0], "test")
    item = gallery.cell_images(evaluation_id, "tp", 0.0, limit=1).items[0]
    jpeg = next(trained_home["data"].glob("PNEUMONIA/*.jpeg"))
    score_upload_bytes(jpeg.read_bytes(), "access.jpeg", [trained_home["run_ids"][0]])
    newest = upload_history(1)[0]
    upload, scores = newest.upload, newest.scores
    for role in USER_ROLES:
        ensure_user(f"access-{role}", role, PASSWORD)
    return {"image_id": item.image_id, "prediction_id": item.prediction_id,
            "upload_id": upload.id, "upload_score_id": scores[0].id,
            "run_name": "small-seed"}  # trained_home's run names: a row in any listing


def _clients(dash_app) -> dict:
    clients = {None: dash_app.server.test_client()}
    for role in USER_ROLES:
        clients[role] = sign_in_client(dash_app.server.test_client(), f"access-{role}",
                                       PASSWORD)
    return clients


def _url(rule, ids: dict) -> str:  # noqa: ANN001 - a werkzeug Rule
    url = rule.rule
    for argument in rule.arguments:
        value = ids.get(argument, {"path": "errors", "filename": "cxr.css",
                                   "_anything": "nothing-here", "package_name": "dash",
                                   "fingerprinted_path": "dash-renderer/build/dash_renderer.min.js"
                                   }.get(argument, "1"))
        url = re.sub(rf"<[^>]*:?{argument}>", str(value), url)
    return url


def _assert_refused_without_data(response, what: str, ids: dict) -> None:  # noqa: ANN001
    body = response.get_data()
    assert len(body) < 400, (what, body[:200])
    assert not any(magic in body for magic in IMAGE_MAGIC), what
    assert ids["run_name"].encode() not in body, what


def _check(response, needed: str | None, role: str | None, page: bool, what: str,
           ids: dict) -> str:
    status = response.status_code
    if role is None:
        expected = 302 if page else 401
        assert status == expected, (what, status)
        if page:
            assert response.headers["Location"].startswith("/login?next=")
        _assert_refused_without_data(response, what, ids)
        return "refused"
    if role_rank(role) < role_rank(needed):
        assert status == 403, (what, role, status)
        _assert_refused_without_data(response, what, ids)
        return "refused"
    # Allowed means answered: a 500 (or any error) is not a pass for a role that may see it.
    assert status == ALLOWED_STATUS.get(what, 200) or (status == 204 and not page), (
        what, role, status)
    return "allowed"


def _callback_body(key: str, entry: dict, pathname: str = "/") -> dict:
    return declared_body(key, entry.get("inputs", []), entry.get("state", []),
                         lambda spec: pathname if spec["property"] == "pathname" else None)


def _expected_callback_role(entry: dict) -> str:
    function = entry["callback"]
    if function.__name__ in CALLBACK_OVERRIDES:
        return CALLBACK_OVERRIDES[function.__name__]
    page = dash.page_registry.get(function.__module__)
    assert page is not None, f"callback {function.__name__} of {function.__module__}: no page"
    return PAGE_ROLES[page["path"]]


def test_every_route_and_callback_checks_the_role(dash_app, ids_in_store: dict) -> None:
    clients = _clients(dash_app)
    clients["admin"].get("/_dash-dependencies")  # Dash fills callback_map on a first request
    tried: list[str] = []
    for rule in dash_app.server.url_map.iter_rules():
        endpoint = rule.endpoint
        if endpoint == CALLBACK_ENDPOINT:
            continue
        if endpoint in PAGE_ENDPOINTS:
            paths = [page["path"] for page in dash.page_registry.values()]
            assert set(paths) == set(PAGE_ROLES), f"new page(s): {set(paths) - set(PAGE_ROLES)}"
            paths = [path for path in paths if (path == "/") == (endpoint == "/")]
            for path in paths:
                for role, client in clients.items():
                    _check(client.get(path), PAGE_ROLES[path], role, True, f"page {path}",
                           ids_in_store)
                tried.append(f"page {path}")
            continue
        url = _url(rule, ids_in_store)
        if endpoint in PUBLIC:
            response = clients[None].get(url)
            assert response.status_code in (200, 302, 404), (url, response.status_code)
            tried.append(f"public {url}")
            continue
        assert endpoint in ROUTE_ROLES, f"route {rule.rule} ({endpoint}) has no expected role"
        outcomes = {_check(client.get(url), ROUTE_ROLES[endpoint], role, False, url,
                           ids_in_store) for role, client in clients.items()}
        assert outcomes == {"refused", "allowed"}, url
        tried.append(f"route {rule.rule}")

    router_key = next(key for key in dash_app.callback_map if "_pages_content" in key)
    for key, entry in dash_app.callback_map.items():
        if "callback" not in entry:  # clientside: runs in the browser, no server function
            for role, client in clients.items():
                response = client.post(CALLBACK_ENDPOINT, json=_callback_body(key, entry))
                assert response.status_code == (401 if role is None else 403), (key, role)
            tried.append(f"clientside callback {key[:60]}")
            continue
        checks = ([(path, PAGE_ROLES[path]) for path in PAGE_ROLES] if key == router_key
                  else [("/", _expected_callback_role(entry))])
        for path, needed in checks:
            for role, client in clients.items():
                response = client.post(CALLBACK_ENDPOINT,
                                       json=_callback_body(key, entry, path))
                what = f"callback {key} {path}"
                if _check(response, needed, role, False, what, ids_in_store) == "allowed":
                    assert response.status_code in (200, 204), (what, role, response.status_code)
        tried.append(f"callback {entry['callback'].__module__}.{entry['callback'].__name__}")
    print(f"\n{len(tried)} routes, pages and callbacks tried without a session and as "
          f"{', '.join(USER_ROLES)}:\n" + "\n".join(tried))
    assert sum(item.startswith("callback") for item in tried) >= 20


def test_roles_change_and_disable_at_the_next_request(dash_app, ids_in_store: dict) -> None:
    from db.audit import Actor, recent
    from db.users import set_active, set_role

    client = sign_in_client(dash_app.server.test_client(), "access-viewer", PASSWORD)
    assert client.get("/score").status_code == 403
    set_role("access-viewer", "uploader", Actor("tests"))
    try:
        assert client.get("/score").status_code == 302  # a role change ends the session
        client = sign_in_client(client, "access-viewer", PASSWORD)
        assert client.get("/score").status_code == 200  # and the new one has the new role
    finally:
        set_role("access-viewer", "viewer", Actor("tests"))
    client = sign_in_client(client, "access-viewer", PASSWORD)
    set_active("access-viewer", False, Actor("tests"))
    try:
        assert client.get("/_dash-layout").status_code == 401
    finally:
        set_active("access-viewer", True, Actor("tests"))
    actions = {entry.action for entry in recent(20)}
    assert {"role changed", "user disabled", "user enabled"} <= actions
