"""Clicks on pattern-matching components: every callback that reads one answers the clicked
component's key, and nothing when the components were only rendered (no click yet)."""

from __future__ import annotations

import json

import pytest
from dash._utils import stringify_id

from dashboard import ids
from tests.dashboard.dash_http import declared_body, post

# (pattern type, its key, two keys offered, extra answer after the key)
CLICKED = [(ids.ERR_CELL, "cell", ("tn", "fp"), [1]),  # Errors: the cell, back to page 1
           (ids.CMP_CELL, "cell", ("tp", "fn"), []),
           (ids.ERR_GALLERY_ITEM, "image", (7, 9), []),
           (ids.ERR_PRESET, "rule", ("fixed:0.3", "fixed:0.7"), [])]


def _callback(dash_app, type_: str) -> tuple[str, dict]:
    for key, entry in dash_app.callback_map.items():
        first = entry["inputs"][0]["id"]
        if first.startswith("{") and json.loads(first).get("type") == type_:
            return key, entry
    raise LookupError(type_)


def _body(dash_app, type_: str, key: str, offered: tuple, clicks: list, fired: int) -> dict:
    output, entry = _callback(dash_app, type_)
    body = declared_body(output, entry["inputs"], entry.get("state", []))
    components = [{"type": type_, key: value} for value in offered]
    body["inputs"][0] = [{"id": component, "property": "n_clicks", "value": count}
                         for component, count in zip(components, clicks, strict=True)]
    body["changedPropIds"] = [f"{stringify_id(components[fired])}.n_clicks"]
    return body


@pytest.mark.parametrize(("type_", "key", "offered", "extra"), CLICKED)
def test_a_click_answers_the_clicked_key(client, dash_app, type_: str, key: str,
                                         offered: tuple, extra: list) -> None:
    client.get("/_dash-dependencies")  # Dash fills callback_map on a first request
    status, answer = post(client, _body(dash_app, type_, key, offered, [None, 1], fired=1))
    assert status == 200, answer
    values = [value for output in answer["response"].values() for value in output.values()]
    expected = float(offered[1].partition(":")[2]) if type_ == ids.ERR_PRESET else offered[1]
    assert values == [expected, *extra]


@pytest.mark.parametrize(("type_", "key", "offered", "extra"), CLICKED)
@pytest.mark.parametrize("count", [None, 0])
def test_a_render_without_a_click_changes_nothing(client, dash_app, type_: str, key: str,
                                                  offered: tuple, extra: list,
                                                  count: int | None) -> None:
    client.get("/_dash-dependencies")
    status, _ = post(client, _body(dash_app, type_, key, offered, [count, count], fired=0))
    assert status == 204
