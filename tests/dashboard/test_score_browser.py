"""The Score page in real headless Chromium: a real JPEG, a corrupt file, a DICOM fixture."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from engine.data.pixels import load_gray
from tests.dicom_fixtures import make_dicom, twelve_bit

pytestmark = pytest.mark.browser
WAIT_S = 60


def _open_score_page(browser, live_server: str) -> None:  # noqa: ANN001
    browser.get(f"{live_server}/score")
    WebDriverWait(browser, WAIT_S).until(
        EC.presence_of_element_located((By.CSS_SELECTOR, "#score-upload input[type=file]")))


def _upload(browser, path: Path) -> None:  # noqa: ANN001
    field = browser.find_element(By.CSS_SELECTOR, "#score-upload input[type=file]")
    # ChromeDriver appends to a `multiple` file input: empty it so only `path` is sent.
    browser.execute_script("arguments[0].value = '';", field)
    field.send_keys(str(path))


def _wait_text(browser, selector: str, text: str) -> None:  # noqa: ANN001
    WebDriverWait(browser, WAIT_S).until(
        EC.text_to_be_present_in_element((By.CSS_SELECTOR, selector), text))


def _overlays_loaded(browser) -> bool:  # noqa: ANN001
    images = browser.find_elements(By.CSS_SELECTOR, "#score-results img.score-overlay")
    return bool(images) and all(browser.execute_script(
        "return arguments[0].complete && arguments[0].naturalWidth > 0", img) for img in images)


def _shown_probabilities(browser) -> dict[int, str]:  # noqa: ANN001
    """run id -> the P(pneumonia) text of each run's column of the latest result card."""
    shown = {}
    for column in browser.find_elements(By.CSS_SELECTOR, "#score-results .score-run"):
        run_id = int(re.search(r"#(\d+) ", column.text).group(1))
        shown[run_id] = column.find_element(By.CSS_SELECTOR, ".score-probability").text
    return shown


def _scorer_probabilities(run_ids: list[int], path: Path) -> dict[int, str]:
    """What each run's scorer answers for this file, as the page prints it."""
    from engine.inference.scoring import get_scorer

    return {run_id: f"P(pneumonia) = {get_scorer(run_id).score(path).probability:.3f}"
            for run_id in run_ids}


def test_real_jpeg_corrupt_file_and_dicom_in_the_browser(
        browser, live_server: str, trained_home: dict, tmp_path: Path) -> None:  # noqa: ANN001
    n_runs = len(trained_home["run_ids"])
    source = sorted((trained_home["data"] / "PNEUMONIA").iterdir())[30]
    jpeg = tmp_path / source.name
    jpeg.write_bytes(source.read_bytes())
    _open_score_page(browser, live_server)

    _upload(browser, jpeg)
    _wait_text(browser, "#score-results", jpeg.name)
    probabilities = browser.find_elements(By.CSS_SELECTOR, "#score-results .score-probability")
    assert len(probabilities) == n_runs
    assert all(p.text.startswith("P(pneumonia) = 0.") or p.text.endswith("1.000")
               for p in probabilities)
    assert _shown_probabilities(browser) == _scorer_probabilities(trained_home["run_ids"], jpeg)
    WebDriverWait(browser, WAIT_S).until(_overlays_loaded)
    # The history names the upload by its number: the file name is not stored, so it is shown
    # only in this page view's result card, and gone after a reload.
    header = browser.find_element(By.CSS_SELECTOR, "#score-results .card-header").text
    upload_id = re.search(r"upload #(\d+)", header).group(1)
    _wait_text(browser, "#score-history", f"upload {upload_id}")
    assert jpeg.name not in browser.find_element(By.CSS_SELECTOR, "#score-history").text
    _open_score_page(browser, live_server)
    _wait_text(browser, "#score-history", f"upload {upload_id}")
    assert jpeg.name not in browser.page_source

    corrupt = tmp_path / "corrupt.jpeg"
    corrupt.write_bytes(source.read_bytes()[:2000])
    _upload(browser, corrupt)
    _wait_text(browser, "#score-results .score-error", "corrupt.jpeg: corrupt or truncated")
    assert not browser.find_elements(By.CSS_SELECTOR, "#score-results .score-probability")

    gray = load_gray(source, 256)
    dicom = make_dicom(tmp_path / "CXR0001", twelve_bit(gray), bits_stored=12)
    _upload(browser, dicom)
    _wait_text(browser, "#score-results .card-header", "DICOM")
    assert len(browser.find_elements(By.CSS_SELECTOR,
                                     "#score-results .score-probability")) == n_runs
    WebDriverWait(browser, WAIT_S).until(_overlays_loaded)
    original = browser.find_element(By.CSS_SELECTOR, "#score-results img.score-original")
    assert browser.execute_script("return arguments[0].naturalWidth", original) == 256
    assert _shown_probabilities(browser) == _scorer_probabilities(trained_home["run_ids"], dicom)


def test_file_over_the_limit_is_refused_in_the_browser(
        browser, live_server: str, trained_home: dict, tmp_path: Path,  # noqa: ANN001
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXR_MAX_UPLOAD_MB", "0.004")  # read by the page's layout per request
    source = max((trained_home["data"] / "NORMAL").iterdir(), key=lambda p: p.stat().st_size)
    big = tmp_path / "big.jpeg"
    big.write_bytes(source.read_bytes())
    assert big.stat().st_size > 0.004 * 2**20
    _open_score_page(browser, live_server)
    _upload(browser, big)
    _wait_text(browser, "#score-browser-error", "big.jpeg: ")
    assert "over the 0.004 MB upload limit" in browser.find_element(
        By.ID, "score-browser-error").text
