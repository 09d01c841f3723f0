"""End to end in headless Chromium (Debian's chromium + chromedriver, closed network)."""

from __future__ import annotations

import http.client
import time
from urllib.parse import urlparse

import numpy as np
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from dashboard import ids
from db import evaluations, gallery, reviews
from tests.auth_helpers import TEST_ADMIN

pytestmark = [pytest.mark.browser,
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]  # selenium 4.2 on urllib3 2
WAIT_S = 20


def _cell(browser, cell: str):
    selector = f"[id*='\"cell\":\"{cell}\"'][id*='{ids.ERR_CELL}']"
    return browser.find_element(By.CSS_SELECTOR, selector)


def _counts(browser) -> dict[str, int]:
    texts = browser.execute_script(
        "return ['tn', 'fp', 'fn', 'tp'].map(cell => { const button = document.querySelector("
        "`[id*='\"cell\":\"${cell}\"'][id*='${arguments[0]}'] .cxr-cell-count`);"
        " return button ? button.textContent : ''; });", ids.ERR_CELL)
    return {cell: int(text) if text.isdigit() else -1
            for cell, text in zip(("tn", "fp", "fn", "tp"), texts, strict=True)}


def _wait_counts(browser, total: int) -> dict[str, int]:
    WebDriverWait(browser, WAIT_S).until(lambda b: sum(_counts(b).values()) == total)
    return _counts(browser)


def _gallery_ids(browser) -> list[int]:
    # One script call: the gallery may re-render between two element look-ups.
    return browser.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]))"
        ".map(tile => parseInt(tile.dataset.image, 10));", f"#{ids.ERR_GALLERY} .cxr-tile")


def _open_errors(browser, live_server: str, query: str) -> None:
    browser.get(f"{live_server}/errors?{query}")
    WebDriverWait(browser, WAIT_S).until(
        expected_conditions.presence_of_element_located((By.ID, "confusion-matrix")))


def _split_truth(run_id: int, split: str, threshold: float, cell: str) -> list[int]:
    evaluation_id = evaluations.evaluation_id_for(run_id, split)
    return [item.image_id for item in gallery.cell_images(evaluation_id, cell, threshold,
                                                          "confident_first", 48).items]


def test_confusion_cell_opens_exactly_its_images(browser, live_server: str,
                                                 trained_home: dict) -> None:
    run_id = trained_home["run_ids"][0]
    total = len(evaluations.evaluation_arrays(
        evaluations.evaluation_id_for(run_id, "test")).probability)
    _open_errors(browser, live_server, f"run={run_id}&split=test&t=0.5&cell=tp")
    counts = _wait_counts(browser, total)
    for cell in ("fn", "fp", "tn"):
        _cell(browser, cell).click()
        expected = _split_truth(run_id, "test", 0.5, cell)
        WebDriverWait(browser, WAIT_S).until(lambda b, e=expected: _gallery_ids(b) == e)
        assert len(_gallery_ids(browser)) == counts[cell]
        assert f"cell={cell}" in browser.current_url


def test_moving_the_threshold_changes_the_cells(browser, live_server: str,
                                                trained_home: dict) -> None:
    run_id = trained_home["run_ids"][1]
    evaluation_id = evaluations.evaluation_id_for(run_id, "test")
    scored = evaluations.evaluation_arrays(evaluation_id)
    probability, labels = scored.probability, scored.true_label
    total = len(labels)
    # Thresholds read off this run's own scores, so each move must change the cells.
    middle = float(np.median(probability))
    low = np.floor(probability.min() * 1e4) / 1e4
    high = min(np.ceil(probability.max() * 1e4) / 1e4 + 1e-4, 1.0)
    _open_errors(browser, live_server, f"run={run_id}&split=test&t={middle:.4f}")
    before = _wait_counts(browser, total)
    box = browser.find_element(By.CSS_SELECTOR, f"#{ids.ERR_THRESHOLD} input")
    for value in (f"{low:g}", f"{high:g}"):
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(value, Keys.TAB)  # the slider commits its input box on blur
        WebDriverWait(browser, WAIT_S).until(lambda b, v=value: f"t={v}" in b.current_url)
        WebDriverWait(browser, WAIT_S).until(lambda b, old=before: _counts(b) != old)
        after = _wait_counts(browser, total)
        assert after != before and sum(after.values()) == total
        assert after["tp"] == int(((probability >= float(value)) & (labels == 1)).sum())
        before = after


def test_review_survives_a_reload(browser, live_server: str, trained_home: dict) -> None:
    run_id = trained_home["run_ids"][0]
    # At t=0 every pneumonia image is a true positive: a gallery that is never empty, whatever
    # the small model learned.
    _open_errors(browser, live_server, f"run={run_id}&split=test&t=0&cell=tp")
    WebDriverWait(browser, WAIT_S).until(lambda b: _gallery_ids(b))
    image_id = _gallery_ids(browser)[0]
    browser.find_element(By.CSS_SELECTOR, f"#{ids.ERR_GALLERY} .cxr-tile").click()
    WebDriverWait(browser, WAIT_S).until(lambda b: f"image={image_id}" in b.current_url)
    WebDriverWait(browser, WAIT_S).until(
        expected_conditions.element_to_be_clickable((By.ID, ids.REVIEW_SAVE)))
    verdict = browser.find_element(By.CSS_SELECTOR,
                                   f"#{ids.REVIEW_VERDICT} input[value='model error']")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", verdict)
    browser.execute_script("arguments[0].click();", verdict)
    note = f"browser note {time.time():.0f}"
    browser.find_element(By.ID, ids.REVIEW_NOTE).send_keys(note)
    browser.execute_script("arguments[0].click();", browser.find_element(By.ID, ids.REVIEW_SAVE))
    WebDriverWait(browser, WAIT_S).until(
        lambda b: note in b.find_element(By.ID, ids.REVIEW_LIST).text)
    browser.refresh()
    WebDriverWait(browser, WAIT_S).until(
        lambda b: b.find_elements(By.ID, ids.REVIEW_LIST)
        and note in b.find_element(By.ID, ids.REVIEW_LIST).text)
    text = browser.find_element(By.ID, ids.REVIEW_LIST).text
    assert "model error" in text and TEST_ADMIN in text  # the signed-in user, not a typed name
    assert [r.note for r in reviews.reviews_for(image_id)][0] == note


def test_permalink_restores_the_view(browser, live_server: str, trained_home: dict) -> None:
    run_id = trained_home["run_ids"][1]
    evaluation_id = evaluations.evaluation_id_for(run_id, "val")
    image_id = gallery.cell_images(evaluation_id, "tn", 1.01, limit=1).items[0].image_id
    total = len(evaluations.evaluation_arrays(evaluation_id).probability)
    _open_errors(browser, live_server,
                 f"run={run_id}&split=val&t=0.3&cell=fp&image={image_id}")
    counts = _wait_counts(browser, total)
    scored = evaluations.evaluation_arrays(evaluation_id)
    probability, labels = scored.probability, scored.true_label
    assert counts["fp"] == int(((probability >= 0.3) & (labels == 0)).sum())
    assert "cxr-selected" in _cell(browser, "fp").get_attribute("class")
    assert browser.find_element(By.CSS_SELECTOR, f"#{ids.ERR_SPLIT} input[value='val']"
                                ).is_selected()
    assert f"#{run_id} " in browser.find_element(By.ID, ids.ERR_RUN).text
    WebDriverWait(browser, WAIT_S).until(
        lambda b: f"Image #{image_id}" in b.find_element(By.ID, ids.ERR_DETAIL).text)
    WebDriverWait(browser, WAIT_S).until(
        lambda b: _gallery_ids(b) == _split_truth(run_id, "val", 0.3, "fp"))
    # The view the URL names is the view shown, and the URL still names it.
    query = urlparse(browser.current_url).query
    assert f"run={run_id}" in query and "t=0.3" in query and f"image={image_id}" in query


def test_image_route_refuses_paths(browser, live_server: str) -> None:
    for path in ("/files/image/../../../../etc/passwd", "/files/image//etc/passwd",
                 "/files/image/%2Fetc%2Fpasswd", "/files/image/..%2F..%2Fetc%2Fpasswd"):
        browser.get(live_server + path)
        assert "root:x:0:0" not in browser.page_source
    # Chromium normalises `..` before sending; send the raw request line too.
    host = urlparse(live_server)
    for path in ("/files/image/../../../../etc/passwd", "/files/thumb/..%2f..%2fcxr.db",
                 "/files/cam//etc/passwd"):
        connection = http.client.HTTPConnection(host.hostname, host.port, timeout=10)
        connection.putrequest("GET", path, skip_accept_encoding=True)
        # Signed in as the browser is, so the route itself (not the sign-in guard) answers.
        connection.putheader("Cookie", f"cxr_session={browser.get_cookie('cxr_session')['value']}")
        connection.endheaders()
        response = connection.getresponse()
        body = response.read()
        assert b"root:x:0:0" not in body and b"SQLite format" not in body
        assert response.status == 404 or response.getheader("Content-Type", "").startswith(
            "text/html")
        connection.close()


def test_pages_render_with_synthetic_marking_absent_for_real_data(
        browser, live_server: str) -> None:
    for path, marker in (("/", ids.RUNS_TABLE), ("/runs", ids.RUNS_TABLE),
                         ("/compare", ids.CMP_MATRIX),
                         ("/dataset", "leakage-result")):
        browser.get(live_server + path)
        WebDriverWait(browser, WAIT_S).until(
            expected_conditions.presence_of_element_located((By.ID, marker)))
    assert "No patient leakage" in browser.find_element(By.ID, "leakage-result").text
    assert "SYNTHETIC" not in browser.page_source


def _suspects_truth(run_id: int, split: str, threshold: float, min_outside: float) -> list[int]:
    evaluation_id = evaluations.evaluation_id_for(run_id, split)
    return [item.image_id for item in gallery.cell_images(
        evaluation_id, gallery.SUSPECTS, threshold, "outside_lungs_first", 48,
        min_outside=min_outside).items]


def test_shortcut_suspects_filter(browser, live_server: str, trained_home: dict) -> None:
    """The suspects button shows exactly the correct predictions that look outside the lungs;
    the URL holds the filter, and a permalink with another cut-off restores that gallery."""
    from dashboard.url_state import SUSPECT_MIN_OUTSIDE

    run_id = trained_home["run_ids"][0]
    evaluation_id = evaluations.evaluation_id_for(run_id, "val")
    _open_errors(browser, live_server, f"run={run_id}&split=val&t=0.5&cell=tp")
    _wait_counts(browser, len(evaluations.evaluation_arrays(evaluation_id).probability))
    button = browser.find_element(By.ID, ids.ERR_SUSPECTS)
    browser.execute_script("arguments[0].click();", button)
    WebDriverWait(browser, WAIT_S).until(lambda b: "cell=suspects" in b.current_url
                                         and "sort=outside_lungs_first" in b.current_url)
    assert f"outside={SUSPECT_MIN_OUTSIDE}" in browser.current_url
    expected = _suspects_truth(run_id, "val", 0.5, SUSPECT_MIN_OUTSIDE)
    WebDriverWait(browser, WAIT_S).until(
        lambda b: "Shortcut suspects" in b.find_element(By.ID, ids.ERR_GALLERY_TITLE).text)
    WebDriverWait(browser, WAIT_S).until(lambda b, e=expected: _gallery_ids(b) == e)
    assert browser.find_element(By.ID, "gallery-count").text == str(len(expected))
    assert "cxr-selected" in button.get_attribute("class")

    # A cut-off read off this run's own correct predictions: some images pass, some don't.
    correct = [item for cell in ("tn", "tp") for item in gallery.cell_images(
        evaluation_id, cell, 0.5, limit=10_000).items if item.lung_share is not None]
    cutoff = float(np.floor(np.median([item.outside_lungs for item in correct]) * 20) / 20)
    expected = _suspects_truth(run_id, "val", 0.5, cutoff)
    assert 0 < len(expected) <= len(correct)
    _open_errors(browser, live_server, f"run={run_id}&split=val&t=0.5&cell=suspects"
                                       f"&outside={cutoff}&sort=outside_lungs_first")
    WebDriverWait(browser, WAIT_S).until(lambda b, e=expected: _gallery_ids(b) == e)
    outside = browser.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0])).map(t => t.textContent);",
        f"#{ids.ERR_GALLERY} .cxr-tile")
    assert all("outside lungs" in text for text in outside)
    assert f"outside={cutoff}" in browser.current_url

    # The image detail draws the lung outline over the CAM, served by the attention route.
    browser.find_element(By.CSS_SELECTOR, f"#{ids.ERR_GALLERY} .cxr-tile").click()
    WebDriverWait(browser, WAIT_S).until(lambda b: b.find_elements(By.ID, "lung-outline"))
    WebDriverWait(browser, WAIT_S).until(lambda b: b.execute_script(
        "const img = document.getElementById('lung-outline');"
        "return img.complete && img.naturalWidth > 0;"))
    assert f"image={expected[0]}" in browser.current_url
