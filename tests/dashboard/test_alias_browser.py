"""In headless Chromium: the Runs table leads with results (configuration one click away and
remembered in the URL), an admin promotes a run there, and the Score page then answers with
that run alone and gives no verdict for an image unlike the training images."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from dashboard import ids

pytestmark = pytest.mark.browser
WAIT_S = 30
LEAD = ["Run", "Name", "Alias", "Origin", "Health", "test acc", "test sens", "test spec",
        "test AUC", "test ECE"]


def _headers(browser) -> list[str]:  # noqa: ANN001
    return [cell.text for cell in browser.find_elements(
        By.CSS_SELECTOR, f"#{ids.RUNS_TABLE} th.dash-header .column-header-name")]


def _wait_headers(browser, wanted: list[str]) -> None:  # noqa: ANN001
    WebDriverWait(browser, WAIT_S).until(lambda b: _headers(b) == wanted)


def _show_column(browser, label: str) -> None:  # noqa: ANN001
    browser.find_element(By.CSS_SELECTOR, f"#{ids.RUNS_TABLE} button.show-hide").click()
    item = next(item for item in browser.find_elements(
        By.CSS_SELECTOR, f"#{ids.RUNS_TABLE} .show-hide-menu-item") if item.text == label)
    item.find_element(By.TAG_NAME, "input").click()
    browser.find_element(By.CSS_SELECTOR, f"#{ids.RUNS_TABLE} button.show-hide").click()


def _noise_png(path: Path) -> Path:
    """A 400x400 PNG of noise: no chest X-ray, so outside the training population."""
    noise = np.random.default_rng(5).integers(0, 256, (400, 400), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return path


def test_runs_table_columns_promote_and_score_without_false_confidence(
        browser, live_server: str, trained_home: dict, tmp_path: Path) -> None:  # noqa: ANN001
    from db import registry
    from db.audit import Actor

    second = trained_home["run_ids"][1]
    browser.get(f"{live_server}/")
    WebDriverWait(browser, WAIT_S).until(lambda b: len(b.find_elements(
        By.CSS_SELECTOR, f"#{ids.RUNS_TABLE} td.dash-cell")) > 0)
    _wait_headers(browser, LEAD)  # what a lead compares, and no configuration
    _show_column(browser, "Architecture")
    _wait_headers(browser, [*LEAD[:5], *LEAD[5:], "Architecture"])
    WebDriverWait(browser, WAIT_S).until(lambda b: "cols=" in b.current_url)
    assert "arch" in browser.current_url.split("cols=")[1]
    browser.get(browser.current_url)  # the chosen columns survive a reload from the URL
    _wait_headers(browser, [*LEAD, "Architecture"])
    browser.find_element(By.CSS_SELECTOR, f"#{ids.RUNS_SPLIT} input[value=val]").click()
    _wait_headers(browser, [*LEAD[:5], *(h.replace("test", "val") for h in LEAD[5:]),
                            "Architecture"])
    assert "split=val" in browser.current_url and "cols=" in browser.current_url

    try:
        Select(browser.find_element(By.ID, ids.RUNS_PROMOTE_RUN)).select_by_value(str(second))
        browser.find_element(By.ID, ids.RUNS_PROMOTE).click()
        WebDriverWait(browser, WAIT_S).until(lambda b: b.find_elements(
            By.CSS_SELECTOR, ".promote-done"))
        assert registry.production_run_id() == second
        current = browser.find_element(By.CSS_SELECTOR, f"#{ids.RUNS_ALIASES} .alias-current")
        assert "production" in current.text and "test-admin" in current.text
        browser.find_element(By.ID, ids.RUNS_REFRESH).click()
        WebDriverWait(browser, WAIT_S).until(lambda b: "production" in b.find_element(
            By.ID, ids.RUNS_TABLE).text)

        path = _noise_png(tmp_path / "not-a-chest.png")
        browser.get(f"{live_server}/score")
        field = WebDriverWait(browser, WAIT_S).until(lambda b: b.find_element(
            By.CSS_SELECTOR, "#score-upload input[type=file]"))
        assert f"#{second}" in browser.find_element(By.ID, ids.SCORE_RUNS).text
        field.send_keys(str(path))
        WebDriverWait(browser, 60).until(lambda b: b.find_elements(
            By.CSS_SELECTOR, "#score-results .score-run"))
        runs = browser.find_elements(By.CSS_SELECTOR, "#score-results .score-run")
        assert len(runs) == 1 and f"#{second} " in runs[0].text  # production alone answers
        assert runs[0].find_elements(By.CSS_SELECTOR, ".score-production")
        assert "not assessable: unlike the training images" in runs[0].text
        assert not runs[0].find_elements(By.CSS_SELECTOR, ".score-label")  # no verdict badge
        assert "text-muted" in runs[0].find_element(
            By.CSS_SELECTOR, ".score-probability").get_attribute("class")
        # The history keeps what was answered: production, and no verdict.
        newest = WebDriverWait(browser, WAIT_S).until(lambda b: b.find_element(
            By.CSS_SELECTOR, "#score-history tbody tr"))
        assert newest.find_elements(By.CSS_SELECTOR, ".score-production")
        assert newest.find_elements(By.CSS_SELECTOR, ".score-not-assessable")
        assert not newest.find_elements(By.CSS_SELECTOR, ".score-label")
    finally:
        for assignment in registry.current_aliases():
            registry.remove_alias(assignment.alias, Actor("tests"))
