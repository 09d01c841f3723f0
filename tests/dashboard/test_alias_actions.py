"""The Aliases card's actions over HTTP as an admin: a run id the database cannot hold is a
one-line status (never "Something went wrong"), and Remove demotes an alias, audited."""

from __future__ import annotations

import json

from db import registry
from db.audit import Actor, recent
from tests.dashboard.dash_http import declared_body, post


def _entry(dash_app, client, function: str) -> tuple[str, dict]:  # noqa: ANN001
    client.get("/_dash-dependencies")  # Dash fills callback_map on a first request
    return next((key, entry) for key, entry in dash_app.callback_map.items()
                if "callback" in entry and entry["callback"].__name__ == function)


def test_promote_with_a_huge_run_id_and_remove_an_alias(dash_app, client,  # noqa: ANN001
                                                        trained_home: dict) -> None:
    key, entry = _entry(dash_app, client, "promote_run")
    values = {"n_clicks": 1, "value": None}
    body = declared_body(key, entry["inputs"], entry["state"], lambda spec: values.get(
        spec["property"]))
    body["state"][0]["value"] = "99999999999999999999"
    body["state"][1]["value"] = "production"
    status, answer = post(client, body)
    text = json.dumps(answer)
    assert status == 200 and "is not a run id" in text and "Something went wrong" not in text

    run_id = trained_home["run_ids"][0]
    registry.promote(run_id, "staging", Actor("tests"), force=True)
    try:
        key, entry = _entry(dash_app, client, "demote_alias")
        body = declared_body(key, entry["inputs"], [], lambda spec: None)
        body["inputs"][0] = [{"id": {"type": "runs-demote", "alias": "staging"},
                              "property": "n_clicks", "value": 1}]
        body["changedPropIds"] = ['{"alias":"staging","type":"runs-demote"}.n_clicks']
        status, answer = post(client, body)
        assert status == 200 and "Alias staging removed from run" in json.dumps(answer)
        assert "staging" not in {a.alias for a in registry.current_aliases()}
        assert (registry.DEMOTED, f"run {run_id}") in [(e.action, e.target) for e in recent(5)]
    finally:
        for assignment in registry.current_aliases():
            if assignment.alias == "staging":
                registry.remove_alias("staging", Actor("tests"))
