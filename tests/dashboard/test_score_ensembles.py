"""Ensembles on the Score page: an ensemble is offered as a run, scores an uploaded JPEG
and shows in the history (over HTTP, on the quality store: two small CNNs and their ensemble)."""

from __future__ import annotations

import base64

from tests.dashboard import dash_http


def _score_body(deps: list[dict], data_url: str, name: str, run_ids: list[int]) -> dict:
    """The Score page's upload callback as the browser calls it (other states left empty)."""
    dependency = next(d for d in deps if "score-results.children" in d["output"])
    given = {("score-upload", "filename"): name, ("score-runs", "value"): run_ids}
    return {"output": dependency["output"],
            "outputs": [{"id": part.split(".")[0], "property": part.split(".")[1]}
                        for part in dependency["output"].strip(".").split("...")],
            "inputs": [{"id": "score-upload", "property": "contents", "value": data_url}],
            "changedPropIds": ["score-upload.contents"],
            "state": [{**state, "value": given.get((state["id"], state["property"]))}
                      for state in dependency["state"]]}


def test_score_page_offers_and_scores_with_an_ensemble(client, quality_home: dict) -> None:
    ensemble_id = quality_home["ensemble_id"]
    deps = dash_http.dependencies(client)
    status, body = dash_http.post(client, dash_http.page_body(deps, "/score"))
    assert status == 200
    page = str(body["response"]["_pages_content"]["children"])
    assert f"#{ensemble_id} quality-ensemble (ensemble" in page

    source = sorted((quality_home["data"] / "PNEUMONIA").iterdir())[5]
    data_url = "data:image/jpeg;base64," + base64.b64encode(source.read_bytes()).decode()
    status, body = dash_http.post(client, _score_body(deps, data_url, source.name,
                                                      [ensemble_id]))
    assert status == 200
    results = str(body["response"]["score-results"]["children"])
    assert "quality-ensemble" in results and "P(pneumonia) = " in results
    assert "could not be scored" not in results
    assert "quality-ensemble" in str(body["response"]["score-history"]["children"])
