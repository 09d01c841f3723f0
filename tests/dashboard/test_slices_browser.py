"""Slices in Chromium: a click on a slice filters the Errors gallery through the URL, and
Compare lists where the two runs differ with their flips."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from dashboard import ids
from dashboard.slices_view import MAX_ROWS, min_size_value
from db import evaluations, gallery
from engine.evaluation.slice_compare import compare_run_slices
from engine.evaluation.slices import run_slices, slice_image_ids

pytestmark = [pytest.mark.browser,
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]  # selenium 4.2 on urllib3 2
WAIT_S = 20


def _gallery_ids(browser) -> list[int]:
    return browser.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]))"
        ".map(tile => parseInt(tile.dataset.image, 10));", f"#{ids.ERR_GALLERY} .cxr-tile")


def _too_small(browser) -> int:
    return sum("too small" in row.text
               for row in browser.find_elements(By.CSS_SELECTOR, "#slices-table .slice-row"))


def _expected(evaluation_id: int, image_ids: list[int] | None) -> list[int]:
    # At t=0 every pneumonia image is a true positive.
    return [item.image_id for item in gallery.cell_images(
        evaluation_id, "tp", 0.0, "confident_first", 48, image_ids=image_ids).items]


def test_a_slice_click_filters_the_gallery(browser, live_server: str,
                                           trained_home: dict) -> None:
    run_id = trained_home["run_ids"][0]
    evaluation_id = evaluations.evaluation_id_for(run_id, "test")
    everything = _expected(evaluation_id, None)
    report = run_slices(run_id, "test", threshold=0.0)
    chosen = next(stat for stat in report.slices[:MAX_ROWS]
                  if 0 < len(_expected(evaluation_id, slice_image_ids(run_id, "test", stat.key)))
                  < len(everything))
    expected = _expected(evaluation_id, slice_image_ids(run_id, "test", chosen.key))
    browser.get(f"{live_server}/errors?run={run_id}&split=test&t=0&cell=tp")
    WebDriverWait(browser, WAIT_S).until(lambda b: _gallery_ids(b) == everything)
    WebDriverWait(browser, WAIT_S).until(
        lambda b: len(b.find_elements(By.CSS_SELECTOR, "#slices-table .slice-row"))
        == min(MAX_ROWS, len(report.slices)))
    assert "Not sliced" in browser.find_element(By.ID, "slices-unavailable").text
    too_small = sum(not stat.enough for stat in report.slices[:MAX_ROWS])
    assert _too_small(browser) == too_small
    box = browser.find_element(By.ID, ids.ERR_SLICE_MIN)
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("1", Keys.TAB)
    WebDriverWait(browser, WAIT_S).until(lambda b: "at least 1 images" in b.find_element(
        By.ID, ids.ERR_SLICES).text)
    assert _too_small(browser) == 0
    button = browser.find_element(
        By.CSS_SELECTOR, f"[id*='\"slice\":\"{chosen.key}\"'][id*='{ids.ERR_SLICE_ROW}']")
    assert button.text == chosen.label
    browser.execute_script("arguments[0].click();", button)
    WebDriverWait(browser, WAIT_S).until(lambda b: _gallery_ids(b) == expected)
    assert "slice=" in browser.current_url
    assert "in slice" in browser.find_element(By.ID, "gallery-slice").text
    browser.refresh()  # the slice is in the URL: a reload (or a shared link) keeps it
    WebDriverWait(browser, WAIT_S).until(lambda b: _gallery_ids(b) == expected)
    browser.execute_script("arguments[0].click();",
                           browser.find_element(By.ID, ids.ERR_SLICE_CLEAR))
    WebDriverWait(browser, WAIT_S).until(lambda b: _gallery_ids(b) == everything)
    assert "slice=" not in browser.current_url


def test_compare_lists_where_the_runs_differ(browser, live_server: str,
                                             trained_home: dict) -> None:
    run_a, run_b = trained_home["run_ids"]
    comparison = compare_run_slices(run_a, run_b, "test")
    browser.get(f"{live_server}/compare?a={run_a}&b={run_b}&split=test")
    WebDriverWait(browser, WAIT_S).until(
        lambda b: len(b.find_elements(By.CSS_SELECTOR, "#compare-slices-table tbody tr"))
        == min(MAX_ROWS, len(comparison.slices)))
    rows = browser.find_elements(By.CSS_SELECTOR, "#compare-slices-table tbody tr")
    for row, expected in zip(rows, comparison.slices, strict=False):
        cells = [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
        assert cells[0] == expected.label and int(cells[1]) == expected.size
        assert (int(cells[5]), int(cells[6])) == (expected.a_right_b_wrong,
                                                  expected.a_wrong_b_right)


@pytest.mark.parametrize(("typed", "expected"), [
    ("7", 7), (7.9, 7), ("1", 1), (None, 20), ("", 20), ("0", 20), ("-3", 20), ("abc", 20),
    ("nan", 20), ("inf", 20), ("1e12", 20), ([5], 20)])
def test_the_minimum_size_box_never_breaks_the_table(typed: object, expected: int) -> None:
    assert min_size_value(typed) == expected
