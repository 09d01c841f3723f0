"""The Map page and the look-alikes in headless Chromium, on trained_home's real-image runs."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from dashboard import ids
from db import evaluations, feature_map, gallery
from tests.dashboard.test_browser import _gallery_ids

pytestmark = [pytest.mark.browser,
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]
WAIT_S = 30

# Every point of the map, as the browser holds it: (image id, trace name).
POINTS_JS = """
const graph = document.querySelector(arguments[0] + ' .js-plotly-plot');
if (!graph || !graph.data) { return null; }
return graph.data.flatMap(trace => (trace.customdata || []).map(id => [id, trace.name]));
"""


def _points(browser) -> list | None:
    return browser.execute_script(POINTS_JS, f"#{ids.MAP_GRAPH}")


def _open_map(browser, live_server: str, query: str, total: int) -> None:
    browser.get(f"{live_server}/map?{query}")
    WebDriverWait(browser, WAIT_S).until(lambda b: len(_points(b) or []) == total)


def test_map_shows_every_image_and_the_threshold_recolours_it(
        browser, live_server: str, trained_home: dict) -> None:
    run_id = trained_home["run_ids"][0]
    evaluation_id = evaluations.evaluation_id_for(run_id, "test")
    frame = feature_map.map_frame(evaluation_id)
    _open_map(browser, live_server, f"run={run_id}&split=test&colour=cell&t=0", len(frame))
    assert sorted(point[0] for point in _points(browser)) == sorted(frame.image_id)
    # At threshold 0 every image is predicted PNEUMONIA: only true and false positives.
    assert {name.split(" (")[0] for _, name in _points(browser)} <= {
        "True positive", "False positive"}
    browser.execute_script(
        "window.history.replaceState(null, '', window.location.pathname + '?run=' + "
        "arguments[0] + '&split=test&colour=cell&t=1');", run_id)
    browser.refresh()
    WebDriverWait(browser, WAIT_S).until(lambda b: len(_points(b) or []) == len(frame) and {
        name.split(" (")[0] for _, name in _points(b)} <= {"True negative", "False negative"})


def test_box_selection_opens_those_images_in_the_gallery(
        browser, live_server: str, trained_home: dict) -> None:
    run_id = trained_home["run_ids"][1]
    evaluation_id = evaluations.evaluation_id_for(run_id, "test")
    frame = feature_map.map_frame(evaluation_id)
    _open_map(browser, live_server, f"run={run_id}&split=test&colour=label", len(frame))
    browser.execute_script(
        "Plotly.relayout(document.querySelector(arguments[0] + ' .js-plotly-plot'), "
        "{dragmode: 'select'});", f"#{ids.MAP_GRAPH}")
    plot = browser.find_element(By.CSS_SELECTOR, f"#{ids.MAP_GRAPH} .nsewdrag")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", plot)
    width, height = plot.size["width"], plot.size["height"]
    # A box over the whole plot area, corner to corner: every point is selected.
    ActionChains(browser).move_to_element(plot).move_by_offset(-width // 2 + 3, -height // 2 + 3) \
        .click_and_hold().move_by_offset(width // 2, height // 2) \
        .move_by_offset(width // 2 - 6, height // 2 - 6).release().perform()
    button = WebDriverWait(browser, WAIT_S).until(
        expected_conditions.element_to_be_clickable((By.ID, "map-open-selection")))
    assert f"Open the {len(frame)} selected images" in button.text
    button.click()
    WebDriverWait(browser, WAIT_S).until(lambda b: "/errors" in b.current_url)
    expected = [item.image_id for item in gallery.chosen_images(
        evaluation_id, list(frame.image_id), 48).items]
    WebDriverWait(browser, WAIT_S).until(lambda b: _gallery_ids(b) == expected)
    assert len(expected) == min(len(frame), 48) and set(expected) <= set(frame.image_id)
    assert browser.find_element(By.ID, "gallery-count").text == str(len(frame))


def test_image_detail_shows_its_eight_lookalikes(browser, live_server: str,
                                                 trained_home: dict) -> None:
    from engine.inference.lookalikes import lookalikes_of_image

    run_id = trained_home["run_ids"][0]
    evaluation_id = evaluations.evaluation_id_for(run_id, "test")
    image_id = int(feature_map.map_frame(evaluation_id).image_id.iloc[0])
    expected = [item.image_id for item in lookalikes_of_image(run_id, evaluation_id, image_id)]
    browser.get(f"{live_server}/errors?run={run_id}&split=test&image={image_id}")
    WebDriverWait(browser, WAIT_S).until(lambda b: b.execute_script(
        "return Array.from(document.querySelectorAll('.cxr-lookalike'))"
        ".map(tile => parseInt(tile.dataset.image, 10));") == expected)
    assert len(expected) == 8
    verdicts = browser.execute_script(
        "return Array.from(document.querySelectorAll('.cxr-lookalike-verdict'))"
        ".map(badge => badge.textContent);")
    assert set(verdicts) <= {"run right", "run wrong"} and len(verdicts) == 8
