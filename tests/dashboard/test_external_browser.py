"""An external run (imported predictions) in headless Chromium: the Errors detail panel, the
Compare flips and the Score page say it has no checkpoint and no Grad-CAM; its confusion cells,
metrics and paired deltas are there like any run's."""

from __future__ import annotations

import numpy as np
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from dashboard import ids
from dashboard.external_view import NO_MODEL
from db import evaluations, runs
from tests.conftest import point_at
from tests.dashboard.conftest import signed_in_chromium

pytestmark = [pytest.mark.browser,
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]  # selenium 4.2 on urllib3 2
WAIT_S = 30


def _text(driver, element_id: str) -> str:
    found = driver.find_elements(By.ID, element_id)
    return found[0].text if found else ""


def _flipped_cell(ours: int, external: int) -> str:
    pairs = evaluations.paired_predictions(evaluations.evaluation_id_for(ours, "test"),
                                           evaluations.evaluation_id_for(external, "test"))
    right = {name: (pairs[f"probability_{side}"] >= runs.get_run(run).threshold).to_numpy()
             == pairs.true_label.to_numpy()
             for name, side, run in (("a", "a", ours), ("b", "b", external))}
    cells = {"right-wrong": right["a"] & ~right["b"], "wrong-right": ~right["a"] & right["b"],
             "right-right": right["a"] & right["b"], "wrong-wrong": ~right["a"] & ~right["b"]}
    return next(cell for cell, mask in cells.items() if np.any(mask))


def test_external_run_pages_in_chromium(dash_app, live_server: str, imported_home: dict,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    point_at(monkeypatch, imported_home["home"], imported_home["url"])
    ours, external = imported_home["ours"], imported_home["external"]
    test_images = evaluations.paired_predictions(
        evaluations.evaluation_id_for(ours, "test"),
        evaluations.evaluation_id_for(external, "test")).image_id
    with signed_in_chromium(live_server) as driver:
        driver.get(f"{live_server}/errors?run={external}&split=test&t=0.5"
                   f"&image={int(test_images.iloc[0])}")
        WebDriverWait(driver, WAIT_S).until(lambda d: NO_MODEL in _text(d, "image-panel"))
        assert not driver.find_elements(By.ID, "lung-outline")  # no CAM image requested
        WebDriverWait(driver, WAIT_S).until(lambda d: "AUC" in _text(d, ids.ERR_METRICS))

        cell = _flipped_cell(ours, external)
        driver.get(f"{live_server}/compare?a={ours}&b={external}&split=test&cell={cell}")
        WebDriverWait(driver, WAIT_S).until(lambda d: NO_MODEL in _text(d, "flip-table"))
        flips = driver.find_element(By.ID, "flip-table")
        assert len(flips.find_elements(By.CSS_SELECTOR, "img[src*='lung-outline']")) == len(
            flips.find_elements(By.CLASS_NAME, "flip-row"))  # only our run's CAMs
        WebDriverWait(driver, WAIT_S).until(lambda d: "AUC" in _text(d, ids.CMP_DELTAS))

        driver.get(f"{live_server}/score")
        WebDriverWait(driver, WAIT_S).until(
            lambda d: "sklearn-logreg" in _text(d, "score-external-note"))
        assert NO_MODEL in _text(driver, "score-external-note")
