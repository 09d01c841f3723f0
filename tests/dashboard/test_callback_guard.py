"""The callback guard: a request must carry its callback's declared dependencies, in order.

Dash passes a callback its inputs by position and never checks their ids, so the guard does.
The property test mutates well-formed requests for every callback in app.callback_map (a
callback added later is covered too) and every role, and checks that no mutation gets data
the role may not see.
"""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from db.models import USER_ROLES
from db.users import role_rank
from tests.auth_helpers import ensure_user, sign_in_client
from tests.dashboard.dash_http import declared_body, dependencies, page_body, post
from tests.dashboard.test_access import PAGE_ROLES, _expected_callback_role

PASSWORD = "guard-test-password"
CALLBACK = "/_dash-update-component"
SECTIONS = ("inputs", "state", "outputs")
MUTATIONS = ("permute", "omit", "duplicate", "drop", "rename")
RUN_NAME = b"small-seed"  # trained_home's runs: a row of any listing
NOT_OBJECTS = ("[]", "[1, 2]", '"text"', "42", "4.2", "null", "true", "{", "{'a': 1}", "",
               "\x00")


@pytest.fixture(scope="module")
def clients(dash_app, trained_home: dict) -> dict:
    found = {None: dash_app.server.test_client()}
    for role in USER_ROLES:
        ensure_user(f"guard-{role}", role, PASSWORD)
        found[role] = sign_in_client(dash_app.server.test_client(), f"guard-{role}", PASSWORD)
    found["admin"].get("/_dash-dependencies")  # Dash fills callback_map on a first request
    return found


def _is_router(key: str) -> bool:
    return "_pages_content.children" in key


def _needed(dash_app, key: str, body: dict) -> str:
    """The role the honest reading of `body` needs (the router: the page at its pathname)."""
    if not _is_router(key):
        return _expected_callback_role(dash_app.callback_map[key])
    position = next(i for i, spec in enumerate(dash_app.callback_map[key]["inputs"])
                    if spec["property"] == "pathname")
    return PAGE_ROLES.get(body["inputs"][position]["value"], "viewer")


def _structure(section: object) -> object:
    """The ids and properties of a body's section, values left out."""
    if isinstance(section, list):
        return [_structure(item) for item in section]
    if isinstance(section, dict):
        return (json.dumps(section.get("id"), sort_keys=True), section.get("property"))
    return section


def _mutate(data: st.DataObject, body: dict) -> dict:
    body = copy.deepcopy(body)
    section = data.draw(st.sampled_from(SECTIONS), label="section")
    kind = data.draw(st.sampled_from(MUTATIONS), label="mutation")
    if kind == "drop":
        body.pop(section, None)
        return body
    slots = body.get(section)
    slots = list(slots) if isinstance(slots, list) else [slots]
    if kind == "permute":
        slots = list(data.draw(st.permutations(slots), label="order"))
    elif kind in ("omit", "duplicate", "rename") and slots:
        index = data.draw(st.integers(0, len(slots) - 1), label="index")
        if kind == "omit":
            del slots[index]
        elif kind == "duplicate":
            slots.insert(data.draw(st.integers(0, len(slots)), label="to"),
                         copy.deepcopy(slots[index]))
        elif isinstance(slots[index], dict):  # the same id, another property
            slots[index] = {**slots[index], "property": "pathname"
                            if slots[index].get("property") != "pathname" else "search"}
    body[section] = slots
    return body


def _assert_no_data(response, what: object) -> None:  # noqa: ANN001
    content = response.get_data()
    assert len(content) < 400 and RUN_NAME not in content, (what, content[:200])


def test_router_reads_the_page_where_dash_does(dash_app, clients: dict) -> None:
    """The issue's requests: inputs swapped or pathname left out are refused, not rendered."""
    deps = dependencies(clients["admin"])
    viewer = clients["viewer"]
    honest = page_body(deps, "/audit")
    swapped = {**honest, "inputs": [
        {"id": "_pages_location", "property": "search", "value": "/audit"},
        {"id": "_pages_location", "property": "pathname", "value": "/"}]}
    missing = {**honest, "inputs": [honest["inputs"][1]]}
    assert post(viewer, honest)[0] == 403
    for forged in (swapped, missing):
        response = viewer.post(CALLBACK, json=forged)
        assert response.status_code == 400, response.get_data(as_text=True)[:300]
        _assert_no_data(response, forged["inputs"])
        assert b"audit" not in response.get_data().lower()
    assert post(viewer, page_body(deps, "/score"))[0] == 403
    status, rendered = post(viewer, page_body(deps, "/"))
    assert status == 200 and rendered is not None
    assert post(clients["admin"], page_body(deps, "/audit"))[0] == 200


@pytest.mark.parametrize("raw", NOT_OBJECTS)
def test_a_body_that_is_no_json_object_is_a_400(clients: dict, raw: str) -> None:
    for role in USER_ROLES:
        response = clients[role].post(CALLBACK, data=raw, content_type="application/json")
        assert response.status_code == 400, (raw, role, response.status_code)
        assert "JSON object" in response.get_json()["error"]
    assert clients[None].post(CALLBACK, data=raw,
                              content_type="application/json").status_code == 401


def _property_for(dash_app, clients: dict, key: str):  # noqa: ANN202 - a Hypothesis test
    """Mutated requests for the callback `key`, by every role, never get data above it."""
    entry = dash_app.callback_map[key]
    paths = sorted(PAGE_ROLES)

    @settings(max_examples=25, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        values = iter(data.draw(st.lists(st.sampled_from(paths), min_size=2, max_size=2),
                                label="paths"))
        honest = declared_body(key, entry["inputs"], entry["state"],
                               lambda spec: next(values, "/") if _is_router(key) else None)
        body = _mutate(data, honest)
        role = data.draw(st.sampled_from((None, *USER_ROLES)), label="role")
        response = clients[role].post(CALLBACK, json=body)
        status = response.status_code
        same = all(_structure(body.get(s, None if s == "outputs" else []))
                   == _structure(honest.get(s)) for s in SECTIONS)
        if role is None:
            expected = {401}
        elif not same:
            expected = {400}
        elif role_rank(role) < role_rank(_needed(dash_app, key, body)):
            expected = {403}
        else:
            expected = {200, 204}
        assert status in expected, (key, role, body, status)
        if status >= 400:
            _assert_no_data(response, (key, role))

    return check


def test_mutated_requests_never_get_data_above_the_role(dash_app, clients: dict) -> None:
    keys = [key for key, entry in dash_app.callback_map.items() if "callback" in entry]
    assert len(keys) >= 20 and any(_is_router(key) for key in keys)
    for key in keys:
        _property_for(dash_app, clients, key)()


def test_without_sign_in_malformed_requests_are_still_refused(trained_home: dict) -> None:
    """`cxr serve --no-auth`: no roles, but the request must still match its callback."""
    from dashboard.app import create_app

    client = create_app(auth_enabled=False).server.test_client()
    deps = dependencies(client)
    honest = page_body(deps, "/audit")
    assert post(client, honest)[0] == 200  # sign-in off: every page
    swapped = {**honest, "inputs": list(reversed(honest["inputs"]))}
    assert client.post(CALLBACK, json=swapped).status_code == 400
    for raw in NOT_OBJECTS:
        assert client.post(CALLBACK, data=raw,
                           content_type="application/json").status_code == 400, raw
    assert client.post(CALLBACK, json={**honest, "output": "nothing.children"}).status_code \
        == 403


def test_a_body_nested_too_deep_to_parse_is_a_400(clients: dict) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    for role in USER_ROLES:
        response = clients[role].post(CALLBACK, data=deep, content_type="application/json")
        assert response.status_code == 400, (role, response.status_code)


@pytest.mark.parametrize("host", ["attacker.example:8050", "attacker.example", "127.0.0.1.nip.io",
                                  "localhost.attacker.example", "0.0.0.0:8050", "10.0.0.1"])
def test_without_sign_in_only_loopback_names_are_answered(trained_home: dict, host: str) -> None:
    """DNS rebinding: another site's page whose name resolves to 127.0.0.1 sends its own name
    as Host. With sign-in off, every route answers only to loopback names."""
    from dashboard.app import create_app

    client = create_app(auth_enabled=False).server.test_client()
    deps = dependencies(client)
    for path in ("/", "/_dash-layout", "/_dash-dependencies", "/files/image/1"):
        response = client.get(path, headers={"Host": host})
        assert response.status_code == 403, (host, path, response.status_code)
        assert "loopback" in response.get_json()["error"]
    response = client.post(CALLBACK, json=page_body(deps, "/audit"), headers={"Host": host})
    assert response.status_code == 403
    for honest in ("127.0.0.1:8050", "localhost:8050", "[::1]:8050", "localhost", "127.0.0.5"):
        assert client.get("/_dash-layout", headers={"Host": honest}).status_code == 200, honest


def test_a_pattern_id_with_keys_it_does_not_declare_is_refused(dash_app, clients: dict) -> None:
    """A pattern-matching id must carry exactly its declared keys: an extra key would reach the
    callback (as ctx.triggered_id) though no component has it."""
    import json as json_module

    from dashboard import ids
    from dashboard.callback_shape import ShapeError, check_shape

    key = f"{ids.SCORE_LABEL_STATUS}.children"
    dependencies(clients["uploader"])  # Dash fills its callback map at the first request
    entry = dash_app.callback_map[key]
    slot_id = {**json_module.loads(entry["inputs"][0]["id"]), "upload": 7}

    def body(component_id: dict) -> dict:
        honest = declared_body(key, entry["inputs"], entry.get("state", []))
        honest["inputs"][0] = [{"id": component_id, "property": "value", "value": 0}]
        return honest

    check_shape(key, entry, body(slot_id))
    for forged in ({**slot_id, "extra": 1}, {"type": slot_id["type"]}):
        with pytest.raises(ShapeError):
            check_shape(key, entry, body(forged))


def test_match_wildcards_stand_for_one_component_per_request() -> None:
    """A MATCH key takes any one value, the same in every slot of a request; a fixed key must
    be equal. (On a declaration built here: no page uses MATCH today, a new one may.)"""
    from dash import MATCH, Input, Output

    from dashboard.callback_shape import ShapeError, check_shape

    entry = {"output": Output({"type": "tile", "index": MATCH}, "children"),
             "inputs": [Input({"type": "tile", "index": MATCH}, "n_clicks").to_dict()],
             "state": []}

    def body(output_index: object, input_index: object, type_: str = "tile") -> dict:
        return {"output": "x", "outputs": {"id": {"type": "tile", "index": output_index},
                                           "property": "children"},
                "inputs": [{"id": {"type": type_, "index": input_index},
                            "property": "n_clicks", "value": 1}], "state": []}

    check_shape("x", entry, body(3, 3))
    check_shape("x", entry, body("a", "a"))
    for forged in (body(3, 4), body(3, "3"), body(3, 3, "other"), body(3, [3])):
        with pytest.raises(ShapeError):
            check_shape("x", entry, forged)
