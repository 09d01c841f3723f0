"""The label queue's verdict callback checks what the client sends: the run must be a crossval
run with a ranking holding the image (strict ints), and a repeated verdict is kept once."""

from __future__ import annotations

import json

import pytest

from dashboard import ids
from tests.auth_helpers import ensure_user, sign_in_client
from tests.conftest import point_at
from tests.dashboard.dash_http import declared_body, dependencies, post

REVIEWER, PASSWORD = "queue-checker", "queue-checker-password"


def _verdict_body(deps: list[dict], run_id: object, image_id: object) -> dict:
    spec = next(d for d in deps if d["output"].startswith(f"..{ids.LQ_SAVED}.data"))
    body = declared_body(spec["output"], spec["inputs"], spec["state"],
                         lambda s: run_id if s["id"] == ids.LQ_RUN else 0)
    button = {"type": ids.LQ_VERDICT, "image": image_id, "verdict": "label error"}
    body["inputs"] = [[{"id": button, "property": "n_clicks", "value": 1}]]
    body["changedPropIds"] = [json.dumps(button, sort_keys=True, separators=(",", ":"))
                              + ".n_clicks"]
    return body


@pytest.fixture
def reviewer(dash_app, crossval_home: dict, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN001, ANN201
    point_at(monkeypatch, crossval_home["home"], crossval_home["url"])
    ensure_user(REVIEWER, "reviewer", PASSWORD)
    return sign_in_client(dash_app.server.test_client(), REVIEWER, PASSWORD)


def test_crafted_verdicts_store_nothing(reviewer, crossval_home: dict) -> None:  # noqa: ANN001
    from db import label_issues, reviews, runs
    from db.splits import split_images

    run_id = crossval_home["run_id"]
    ranked = {item.image_id for item in label_issues.label_queue(
        run_id, 10_000, only_suspected=False, include_reviewed=True).items}
    queued = label_issues.label_queue(run_id).items[0].image_id
    outside = next(image.image_id for image in split_images(runs.get_run(run_id).split_id, "test")
                   if image.image_id not in ranked)
    deps = dependencies(reviewer)
    cases = [(999, queued), ("abc", queued), (None, queued), (True, queued),
             (run_id, "abc"), (run_id, True), (run_id, outside)]
    for run, image in cases:
        before = {i: len(reviews.reviews_for(i)) for i in (queued, outside, 1)}
        status, shown = post(reviewer, _verdict_body(deps, run, image))
        text = str(shown)
        assert status == 200 and "Saved" not in text and "Something went wrong" not in text, (
            run, image, text)
        assert {i: len(reviews.reviews_for(i)) for i in before} == before, (run, image)
    for attempt in range(2):
        status, shown = post(reviewer, _verdict_body(deps, run_id, queued))
        assert status == 200 and ("Saved" in str(shown)) == (attempt == 0), str(shown)
    assert "already saved" in str(shown)
    mine = [r for r in reviews.reviews_for(queued) if r.reviewer == REVIEWER]
    assert len(mine) == 1 and mine[0].run_id == run_id


def test_errors_detail_with_a_crafted_run(dash_app, client) -> None:  # noqa: ANN001
    deps = dependencies(client)
    spec = next(d for d in deps if d["output"] == f"{ids.ERR_DETAIL}.children")
    body = declared_body(spec["output"], spec["inputs"], spec["state"],
                         lambda s: {ids.ERR_RUN: "abc", ids.ERR_SELECTED_IMAGE: 1,
                                    ids.ERR_SPLIT: "test"}.get(s["id"], 0.5))
    status, shown = post(client, body)
    assert status == 200 and "Something went wrong" not in str(shown), str(shown)
