"""The Errors page's "Suspected label errors" queue, in Chromium and over HTTP: ranked images
with their out-of-fold probability and Grad-CAM, one-click verdicts saved and audited, reviewed
images leaving, viewers seeing without verdicts, and a store without a ranking saying so."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from selenium.webdriver.support.ui import WebDriverWait

from dashboard import ids
from tests.auth_helpers import TEST_ADMIN, ensure_user, signed_in_session
from tests.conftest import point_at
from tests.dashboard.conftest import signed_in_chromium
from tests.dashboard.dash_http import declared_body, post

WAIT_S = 30
VIEWER, PASSWORD = "queue-viewer", "queue-viewer-password"


@pytest.fixture(scope="module")
def queue_server(crossval_home: dict) -> Iterator[str]:
    """The app on its own port over the crossval store, for this module's tests."""
    from dashboard.app import create_app
    from tests.score_server import serve_in_thread

    with pytest.MonkeyPatch.context() as patch:
        point_at(patch, crossval_home["home"], crossval_home["url"])
        with serve_in_thread(create_app().server) as url:
            yield url


def _queue_ids(browser) -> list[int]:  # noqa: ANN001
    """The queue's image ids as the page shows them now (read in one script: the list may
    render again between two WebDriver calls)."""
    return browser.execute_script(
        "return [...document.querySelectorAll('#label-queue .cxr-label-issue')]"
        ".map(item => Number(item.dataset.image))")


def test_a_verdict_is_one_click_audited_and_the_image_leaves(queue_server: str,
                                                            crossval_home: dict) -> None:
    from db import audit, label_issues, reviews

    run_id = crossval_home["run_id"]
    expected = [item.image_id for item in label_issues.label_queue(run_id).items]
    assert expected, "the queue has flagged images to show"
    with signed_in_chromium(queue_server) as browser:
        browser.get(f"{queue_server}/errors")
        WebDriverWait(browser, WAIT_S).until(lambda b: _queue_ids(b))
        assert _queue_ids(browser) == expected
        image_id = expected[0]
        item = f"#label-queue .cxr-label-issue[data-image='{image_id}']"
        text = browser.execute_script(f'return document.querySelector("{item}").innerText')
        assert "out-of-fold P(pneumonia)" in text and "Grad-CAM from fold" in text
        assert ("given\nNORMAL" in text) or ("given\nPNEUMONIA" in text) or (
            "given NORMAL" in text) or ("given PNEUMONIA" in text)
        WebDriverWait(browser, WAIT_S).until(lambda b: b.execute_script(
            "return [...document.querySelectorAll('#label-queue img')].every("
            "i => i.complete && i.naturalWidth > 0)"))
        assert browser.execute_script(
            f'return document.querySelector("{item} img[src*=cam-thumb]") !== null')
        # The list may render again while the page settles: click whatever node is current.
        WebDriverWait(browser, WAIT_S).until(lambda b: b.execute_script(
            f'const found = [...document.querySelectorAll("{item} button")]'
            '.find(b => b.innerText.trim() === "label error");'
            "if (found) { found.click(); } return Boolean(found);"))
        WebDriverWait(browser, WAIT_S).until(lambda b: image_id not in _queue_ids(b))
        WebDriverWait(browser, WAIT_S).until(lambda b: "Saved" in b.execute_script(
            f"return document.getElementById('{ids.LQ_STATUS}').innerText"))
    saved = reviews.reviews_for(image_id)[0]
    assert (saved.verdict, saved.reviewer, saved.run_id) == ("label error", TEST_ADMIN, run_id)
    events = audit.recent(20, action="reviewed", actor=TEST_ADMIN)
    assert any(event.target == f"image {image_id}" for event in events)


def _queue_body(deps: list[dict], run_id: int) -> dict:
    spec = next(d for d in deps if d["output"] == f"{ids.LQ_LIST}.children")
    return declared_body(spec["output"], spec["inputs"], spec["state"],
                         lambda s: run_id if s["id"] == ids.LQ_RUN else 0)


def test_viewers_see_the_queue_but_cannot_give_verdicts(queue_server: str,
                                                       crossval_home: dict) -> None:
    from db import label_issues, reviews

    run_id = crossval_home["run_id"]
    ensure_user(VIEWER, "viewer", PASSWORD)
    viewer = signed_in_session(queue_server, VIEWER, PASSWORD)
    viewer.base_url = queue_server
    deps = viewer.get(f"{queue_server}/_dash-dependencies", timeout=60).json()
    status, shown = post(viewer, _queue_body(deps, run_id))
    assert status == 200
    rendered = str(shown)
    image_id = label_issues.label_queue(run_id).items[0].image_id
    assert f"image {image_id}" in rendered and "cannot give verdicts" in rendered
    assert ids.LQ_VERDICT not in rendered
    spec = next(d for d in deps if d["output"].startswith(f"..{ids.LQ_SAVED}.data"))
    body = declared_body(spec["output"], spec["inputs"], spec["state"], lambda s: run_id)
    body["inputs"] = [[{"id": {"type": ids.LQ_VERDICT, "image": image_id,
                               "verdict": "label error"}, "property": "n_clicks", "value": 1}]]
    before = len(reviews.reviews_for(image_id))
    assert post(viewer, body)[0] == 403
    assert len(reviews.reviews_for(image_id)) == before


def test_a_store_without_a_ranking_says_what_to_run(cxr_home) -> None:  # noqa: ANN001
    from dashboard.label_queue import show_queue
    from dashboard.pages.errors import layout

    page = str(layout())
    assert "No label ranking yet" in page and "cxr crossval --data DIR" in page
    assert "No label ranking yet" in str(show_queue(12345, 0))  # an unknown or older run
