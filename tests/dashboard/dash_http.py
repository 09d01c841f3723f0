"""Call Dash callbacks over HTTP, as the browser does (POST /_dash-update-component).

Used by the callback tests and by bench/bench_dashboard.py. Works with a Flask test client or
with a `requests`-like session pointed at a live server.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from dashboard import ids

CELLS = ("tn", "fp", "fn", "tp")


def _pattern(type_: str, key: str, value: object) -> dict:
    return {key: value, "type": type_}


def _output_string(dependencies: list[dict], *needles: str) -> str:
    for dependency in dependencies:
        if all(needle in dependency["output"] for needle in needles):
            return dependency["output"]
    raise LookupError(f"no callback outputs {needles}")


def _slot(spec: dict, value: object = None, with_value: bool = True) -> dict | list:
    """A request's slot for a declared dependency: a string id as it is; a pattern id with its
    MATCH keys set (an ALL or ALLSMALLER slot is a list, left empty: no component matches)."""
    component_id = spec["id"]
    if component_id.startswith("{"):
        pattern = json.loads(component_id)
        if any(value_ in (["ALL"], ["ALLSMALLER"]) for value_ in pattern.values()):
            return []
        component_id = {key: "x" if value_ == ["MATCH"] else value_
                        for key, value_ in pattern.items()}
    item = {"id": component_id, "property": spec["property"]}
    return {**item, "value": value} if with_value else item


def declared_body(output: str, inputs: list[dict], state: list[dict],
                  value: Callable[[dict], object] = lambda spec: None) -> dict:
    """A well-formed request for the callback with this output key and declared inputs and
    state (from /_dash-dependencies or app.callback_map); `value(spec)` fills each input."""
    from dash._utils import split_callback_id

    outputs = split_callback_id(output)
    return {"output": output,
            "outputs": ([_slot(spec, with_value=False) for spec in outputs]
                        if isinstance(outputs, list) else _slot(outputs, with_value=False)),
            "inputs": [_slot(spec, value(spec)) for spec in inputs],
            "state": [_slot(spec, value(spec)) for spec in state], "changedPropIds": []}


def dependencies(client) -> list[dict]:
    response = client.get("/_dash-dependencies")
    return response.get_json() if hasattr(response, "get_json") else response.json()


def post(client, body: dict) -> tuple[int, dict | None]:
    """POST a callback request; returns (status, decoded JSON or None)."""
    if hasattr(client, "post") and hasattr(client, "application"):  # Flask test client
        response = client.post("/_dash-update-component", json=body)
        status, text = response.status_code, response.get_data(as_text=True)
    else:
        response = client.post(client.base_url + "/_dash-update-component", json=body)
        status, text = response.status_code, response.text
    return status, (json.loads(text) if text and status == 200 else None)


def recompute_body(deps: list[dict], run_id: int, split: str, threshold: float) -> dict:
    output = _output_string(deps, ids.ERR_METRICS, ids.ERR_ROC)
    inputs = [{"id": ids.ERR_RUN, "property": "value", "value": run_id},
              {"id": ids.ERR_SPLIT, "property": "value", "value": split},
              {"id": ids.ERR_THRESHOLD, "property": "value", "value": threshold}]
    return {"output": output, "outputs": [
        [{"id": _pattern(ids.ERR_CELL, "cell", cell), "property": "children"} for cell in CELLS],
        {"id": ids.ERR_METRICS, "property": "children"},
        {"id": ids.ERR_ROC, "property": "figure"},
        {"id": ids.ERR_RUN_BADGES, "property": "children"}],
        "inputs": inputs, "changedPropIds": [f"{ids.ERR_THRESHOLD}.value"], "state": []}


def drill_down_body(deps: list[dict], run_id: int, split: str, threshold: float, cell: str,
                    sort: str = "confident_first", page: int = 1,
                    overlay: bool = False, min_outside: float = 0.0,
                    population: str = "all") -> dict:
    output = _output_string(deps, ids.ERR_GALLERY + ".children")
    values = [(ids.ERR_RUN, "value", run_id), (ids.ERR_SPLIT, "value", split),
              (ids.ERR_THRESHOLD, "value", threshold), (ids.ERR_SELECTED_CELL, "data", cell),
              (ids.ERR_SORT, "value", sort), (ids.ERR_PAGE, "active_page", page),
              (ids.ERR_OVERLAY, "value", overlay), (ids.ERR_OUTSIDE, "value", min_outside),
              (ids.ERR_POPULATION, "value", population), (ids.ERR_SLICE, "data", None)]
    return {"output": output, "outputs": [
        {"id": ids.ERR_GALLERY, "property": "children"},
        {"id": ids.ERR_GALLERY_TITLE, "property": "children"},
        {"id": ids.ERR_PAGE, "property": "max_value"}],
        "inputs": [{"id": i, "property": p, "value": v} for i, p, v in values],
        "changedPropIds": [f"{ids.ERR_SELECTED_CELL}.data"],
        "state": [{"id": ids.ERR_SELECTED_IMAGE, "property": "data", "value": None},
                  {"id": ids.ERR_CHOSEN, "property": "data", "value": []}]}


def runs_table_body(deps: list[dict], split: str = "test", refresh: bool = False) -> dict:
    """The Runs table as a page load fills it (or, with `refresh`, the Refresh button)."""
    output = _output_string(deps, ids.RUNS_TABLE + ".data")
    return {"output": output, "outputs": [{"id": ids.RUNS_TABLE, "property": "data"},
                                          {"id": ids.RUNS_TABLE, "property": "selected_rows"},
                                          {"id": ids.RUNS_TABLE, "property": "columns"},
                                          {"id": ids.RUNS_TABLE, "property": "tooltip_data"}],
            "inputs": [{"id": ids.RUNS_REFRESH, "property": "n_clicks",
                        "value": 1 if refresh else None},
                       {"id": ids.RUNS_SPLIT, "property": "value", "value": split}],
            "changedPropIds": [f"{ids.RUNS_REFRESH}.n_clicks" if refresh
                               else f"{ids.RUNS_SPLIT}.value"],
            "state": [{"id": ids.RUNS_TABLE, "property": "selected_row_ids", "value": []}]}


def gallery_image_ids(response: dict) -> list[int]:
    """Image ids of the gallery tiles in a drill-down response."""
    gallery = response["response"][ids.ERR_GALLERY]["children"]
    tiles = gallery["props"]["children"]
    if not isinstance(tiles, list):
        return []
    return [tile["props"]["id"]["image"] for tile in tiles]


def cell_counts(response: dict) -> dict[str, int]:
    """Cell -> count from a recompute response (the count is the second span)."""
    counts = {}
    for key, value in response["response"].items():
        if ids.ERR_CELL in key and "cell" in key:
            cell = json.loads(key)["cell"]
            counts[cell] = int(value["children"][1]["props"]["children"])
    return counts


def preset_body(deps: list[dict], run_id: int, rule: str) -> dict:
    """Click one threshold preset button (a threshold rule: "fixed:0.5", "youden" or
    "sensitivity:0.95")."""
    output = next(d["output"] for d in deps if d["output"].startswith(ids.ERR_THRESHOLD + ".")
                  and any(ids.ERR_PRESET in json.dumps(i["id"]) for i in d["inputs"]))
    rules = ("fixed:0.5", "youden", "sensitivity:0.95")
    buttons = [{"id": _pattern(ids.ERR_PRESET, "rule", r), "property": "n_clicks",
                "value": 1 if r == rule else None} for r in rules]
    changed = json.dumps(_pattern(ids.ERR_PRESET, "rule", rule), sort_keys=True,
                         separators=(",", ":"))
    return {"output": output, "outputs": {"id": ids.ERR_THRESHOLD, "property": "value"},
            "inputs": [buttons], "changedPropIds": [f"{changed}.n_clicks"],
            "state": [{"id": ids.ERR_RUN, "property": "value", "value": run_id}]}


def page_body(deps: list[dict], pathname: str, search: str = "") -> dict:
    """Dash's page router as the browser calls it when the URL changes to `pathname`."""
    output = _output_string(deps, "_pages_content.children")
    return {"output": output, "outputs": [{"id": "_pages_content", "property": "children"},
                                          {"id": "_pages_store", "property": "data"}],
            "inputs": [{"id": "_pages_location", "property": "pathname", "value": pathname},
                       {"id": "_pages_location", "property": "search", "value": search}],
            "changedPropIds": ["_pages_location.pathname"], "state": []}
