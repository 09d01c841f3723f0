"""Who may see an image's pixels, what the image routes tell caches, and what the audit keeps.

An upload registered as a dataset (`cxr evaluate RUN --uploads`) stays an upload: its image,
thumbnail, CAMs and lung-outline overlay, and the Errors gallery and detail panel over it,
need the uploader role. Every image served by URL is audited once per image, user and sign-in;
a label set on an upload is audited too.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dashboard import ids
from db.models import USER_ROLES
from tests.auth_helpers import ensure_user, sign_in_client
from tests.dashboard import dash_http

PASSWORD = "image-access-password"
CELLS = ("tn", "fp", "fn", "tp")
IMAGE_ROUTES = ("/files/image/{image}", "/files/thumb/{image}", "/files/cam/{prediction}",
                "/files/cam-thumb/{prediction}", "/attention/lung-outline/{prediction}")


@pytest.fixture(scope="module")
def uploads_store(tmp_path_factory: pytest.TempPathFactory, real_subset: Path) -> dict:
    """A store of its own: one run, two labelled uploads evaluated as a dataset, a dataset image."""
    from db import evaluations, gallery
    from db import uploads as upload_db
    from engine.evaluation.evaluate import evaluate_run
    from engine.inference.uploads import score_upload_bytes, uploads_dataset
    from engine.training.train import TrainConfig, main
    from tests.conftest import cxr_environment

    with cxr_environment(tmp_path_factory.mktemp("uploads-home")) as home:
        run_id = main(TrainConfig(arch="small_cnn", data=str(real_subset), epochs=1,
                                  image_size=64, batch_size=16, seed=0, name="access-run"))
        for label, folder in enumerate(("NORMAL", "PNEUMONIA")):
            source = next((real_subset / folder).glob("*.jpeg"))
            result = score_upload_bytes(source.read_bytes(), f"patient-{folder}.jpeg", [run_id])
            upload_db.set_true_label(result.upload.id, label, "tests")
        external = evaluate_run(run_id, dataset_id=uploads_dataset())
        items = [item for cell in CELLS
                 for item in gallery.cell_images(external, cell, 0.5, limit=10).items]
        dataset_item = gallery.cell_images(evaluations.evaluation_id_for(run_id, "test"), "tp",
                                           0.0, limit=1).items[0]
        for role in USER_ROLES:
            ensure_user(f"image-{role}", role, PASSWORD)
        url = os.environ.get("CXR_DATABASE_URL")
    return {"home": home, "url": url, "run_id": run_id, "upload": items[0],
            "dataset": dataset_item, "upload_id": result.upload.id}


@pytest.fixture
def store(uploads_store: dict, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("CXR_HOME", str(uploads_store["home"]))
    if uploads_store["url"]:
        monkeypatch.setenv("CXR_DATABASE_URL", uploads_store["url"])
    else:
        monkeypatch.delenv("CXR_DATABASE_URL", raising=False)
    return uploads_store


def _client(dash_app, role: str):  # noqa: ANN202 - a Flask test client
    return sign_in_client(dash_app.server.test_client(), f"image-{role}", PASSWORD)


def _urls(item) -> list[str]:  # noqa: ANN001 - a gallery.PredictionView
    return [route.format(image=item.image_id, prediction=item.prediction_id)
            for route in IMAGE_ROUTES]


def test_an_upload_evaluated_as_a_dataset_needs_the_uploader_role(dash_app, store: dict) -> None:
    viewer, uploader = _client(dash_app, "viewer"), _client(dash_app, "uploader")
    for url in _urls(store["upload"]):
        refused = viewer.get(url)
        assert refused.status_code == 403, (url, refused.status_code)
        assert b"\x89PNG" not in refused.get_data() and b"\xff\xd8" not in refused.get_data()
        assert uploader.get(url).status_code == 200, url
    for url in _urls(store["dataset"]):  # a dataset's own images stay open to viewers
        assert viewer.get(url).status_code == 200, url


def test_errors_gallery_and_detail_hide_uploads_from_viewers(dash_app, store: dict) -> None:
    viewer, uploader = _client(dash_app, "viewer"), _client(dash_app, "uploader")
    deps = dash_http.dependencies(viewer)
    item = store["upload"]
    for cell in CELLS:
        body = dash_http.drill_down_body(deps, store["run_id"], "external", 0.5, cell)
        status, shown = dash_http.post(viewer, body)
        assert status == 200 and "/files/" not in str(shown), cell
        assert "uploads" in str(shown)
    shown = [dash_http.post(uploader, dash_http.drill_down_body(
        deps, store["run_id"], "external", 0.5, cell))[1] for cell in CELLS]
    assert f"/files/thumb/{item.image_id}" in str(shown)

    detail = next(d for d in deps if d["output"] == f"{ids.ERR_DETAIL}.children")
    request = dash_http.declared_body(
        detail["output"], detail["inputs"], detail["state"],
        lambda spec: {"data": item.image_id, "value": None}.get(spec["property"]))
    request["inputs"][1]["value"], request["inputs"][2]["value"] = store["run_id"], "external"
    for client, visible in ((viewer, False), (uploader, True)):
        status, shown = dash_http.post(client, request)
        assert status == 200
        assert (f"/files/image/{item.image_id}" in str(shown)) is visible


def test_image_routes_answer_private_no_store(dash_app, store: dict) -> None:
    uploader = _client(dash_app, "uploader")
    urls = [*_urls(store["upload"]), *_urls(store["dataset"]),
            f"/files/upload/{store['upload_id']}", "/files/image/999999", "/files/nothing"]
    for url in urls:
        response = uploader.get(url)
        assert response.headers.get("Cache-Control") == "private, no-store", url


def test_images_viewed_by_url_are_audited_once_per_sign_in(dash_app, store: dict) -> None:
    from db.audit import recent

    def views() -> list:
        return recent(500, action="viewed image", actor="image-admin")

    before = len(views())
    admin = _client(dash_app, "admin")
    item = store["dataset"]
    urls = [*_urls(item), f"/files/upload/{store['upload_id']}"]
    for _ in range(3):
        for url in urls:
            assert admin.get(url).status_code == 200, url
    added = views()[:len(views()) - before]
    assert sorted(entry.target for entry in added) == sorted(
        {f"image {item.image_id}", f"upload {store['upload_id']}"})
    _client(dash_app, "admin").get(f"/files/thumb/{item.image_id}")  # a new sign-in
    assert len(views()) == len(added) + before + 1


def test_a_label_change_is_audited(dash_app, store: dict) -> None:
    from db.audit import recent

    uploader = _client(dash_app, "uploader")
    deps = dash_http.dependencies(uploader)
    label = next(d for d in deps if d["output"] == f"{ids.SCORE_LABEL_STATUS}.children")
    pattern = label["inputs"][0]
    label_id = {**json.loads(pattern["id"]), "upload": store["upload_id"]}
    body = {"output": label["output"], "outputs": dash_http.declared_body(
        label["output"], [], [])["outputs"],
        "inputs": [[{"id": label_id, "property": "value", "value": 0}]],
        "changedPropIds": [json.dumps(label_id, sort_keys=True, separators=(",", ":"))
                           + ".value"], "state": []}
    status, _ = dash_http.post(uploader, body)
    assert status == 200
    entry = recent(1, action="labelled upload")[0]
    assert entry.actor == "image-uploader" and entry.target == f"upload {store['upload_id']}"
    assert entry.detail == "true label PNEUMONIA -> NORMAL"


def _review_body(deps: list, image_id: int, run_id: int, note: str) -> dict:
    save = next(d for d in deps if d["output"].startswith(f"..{ids.REVIEW_LIST}.children"))
    values = {ids.REVIEW_SAVE: 1, ids.REVIEW_VERDICT: "label error", ids.REVIEW_NOTE: note,
              ids.ERR_SELECTED_IMAGE: image_id, ids.ERR_RUN: run_id}
    return dash_http.declared_body(save["output"], save["inputs"], save["state"],
                                   lambda spec: values.get(spec["id"]))


def test_reviews_of_an_upload_need_the_uploader_role(dash_app, store: dict) -> None:
    """The review form's callback takes an image id from the request: a reviewer who names an
    upload's image neither reads its reviews nor adds one."""
    from db.reviews import reviews_for

    uploader, reviewer = _client(dash_app, "uploader"), _client(dash_app, "reviewer")
    deps = dash_http.dependencies(uploader)
    image_id, run_id = store["upload"].image_id, store["run_id"]
    status, shown = dash_http.post(uploader, _review_body(deps, image_id, run_id,
                                                          "note by the uploader"))
    assert status == 200 and "note by the uploader" in str(shown)
    count = len(reviews_for(image_id))
    status, shown = dash_http.post(reviewer, _review_body(deps, image_id, run_id, "sneaky"))
    assert status == 200 and "note by the uploader" not in str(shown)
    assert "uploads" in str(shown)
    assert len(reviews_for(image_id)) == count
    dataset_image = store["dataset"].image_id  # a dataset's own images stay reviewable
    status, shown = dash_http.post(reviewer, _review_body(deps, dataset_image, run_id, "fine"))
    assert status == 200 and "Review saved" in str(shown)


def test_every_id_route_answers_404_for_an_id_too_large_for_the_database(dash_app,
                                                                        store: dict) -> None:
    """Every route that takes an integer id caps it at the column's range: a longer number is a
    404, never an overflow in the database driver (a 500)."""
    admin = _client(dash_app, "admin")
    rules = [rule for rule in dash_app.server.url_map.iter_rules()
             if any(type(converter).__name__ == "IntegerConverter"
                    for converter in rule._converters.values())]
    assert len(rules) >= 7
    for rule in rules:
        assert rule.rule.endswith(">"), rule.rule  # the id is the path's last part
        for huge in (2**31, 10**30):
            path = rule.rule.split("<", 1)[0] + str(huge)
            response = admin.get(path)
            assert response.status_code == 404, (path, response.status_code)
