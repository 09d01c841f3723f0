"""A site-calibrated run in the dashboard: its origin in the Runs table, the Compare pickers and
the shift view, where its calibration sample sits beside val (marked in-sample) with the
sample's bootstrap intervals and class-count warning. Builders as plain functions; the pages in
headless Chromium, over the store `cxr calibrate` made (tests/site_calibration_store.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

from dashboard import ids, shift_view, site_calibration_view
from db.site_calibration import SiteCalibrationInfo

WAIT_S = 30


def _info(n_normal: int) -> SiteCalibrationInfo:
    return SiteCalibrationInfo(5, 2, 9, "site-a", "offset", n_normal, 30, 0.9, 0.8, 1.0, 0.85,
                               0.7, 0.95, 0.95, 2000)


def test_trust_note_gives_intervals_and_warns_on_few_images() -> None:
    text = str(site_calibration_view.trust_note(_info(12)))
    assert "12 NORMAL, 30 PNEUMONIA" in text and "refitted: offset" in text
    assert "sensitivity 0.900 (0.800-1.000)" in text and "specificity 0.850 (0.700-0.950)" in text
    assert "fewer than 20 NORMAL" in text
    assert "Warning" not in str(site_calibration_view.trust_note(_info(25)))


def test_calibration_sample_sits_beside_val() -> None:
    rows = [("external", "site-rest", False), ("external", "site-a", True), ("val", "train", False)]
    table = pd.DataFrame([{"evaluation_id": index, "split": split, "dataset": dataset,
                           "n_images": 10, "auc": 0.9, "specificity": 0.8, "sensitivity": 0.9,
                           "ece": 0.05, "outside_share": 0.1, "drift_psi": None,
                           "drift_ks": None, "accuracy": 0.85, "shift": None,
                           "calibration_sample": sample}
                          for index, (split, dataset, sample) in enumerate(rows)])
    text = str(shift_view.external_table("#5 run", table, "calibrated from run 2 on site-a"))
    assert text.index("'val'") < text.index("calibration sample (in-sample): site-a") < text.index(
        "external: site-rest")


@pytest.fixture
def signed_in_browser(live_server: str, site_calibrated: dict,
                      monkeypatch: pytest.MonkeyPatch) -> Iterator:
    from tests.conftest import point_at
    from tests.dashboard.conftest import signed_in_chromium

    point_at(monkeypatch, site_calibrated["home"], site_calibrated["url"])
    with signed_in_chromium(live_server) as driver:
        yield driver


def _text(browser, element_id: str) -> str:  # noqa: ANN001
    return browser.execute_script(
        "const e = document.getElementById(arguments[0]); return e ? e.innerText : '';",
        element_id)


@pytest.mark.browser
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_calibrated_run_shows_its_origin_sample_and_intervals(
        signed_in_browser, live_server: str, site_calibrated: dict) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    from db.site_calibration import site_calibration
    from tests.conftest import point_at

    browser = signed_in_browser
    source, calibrated = site_calibrated["source"], site_calibrated["calibrated"]
    with pytest.MonkeyPatch.context() as patch:
        point_at(patch, site_calibrated["home"], site_calibrated["url"])
        info = site_calibration(calibrated)
    browser.get(f"{live_server}/?runs={calibrated}")
    text = WebDriverWait(browser, WAIT_S).until(
        lambda b: (lambda t: t if "calibration sample" in t else None)(
            _text(b, ids.RUNS_EXTERNAL_TABLES)))
    lines = text.splitlines()
    val = next(i for i, line in enumerate(lines) if line.startswith("val"))
    assert lines[val + 1].startswith("calibration sample (in-sample): site-sample")
    assert "external: site-rest" in text
    assert (f"calibrated from run {source} on site-sample (34 labelled images; threshold by "
            "youden-middle)") in text
    assert (f"sensitivity {info.sensitivity:.3f} ({info.sensitivity_low:.3f}-"
            f"{info.sensitivity_high:.3f})") in text
    assert "fewer than 20 NORMAL" in text
    WebDriverWait(browser, WAIT_S).until(
        lambda b: f"calibrated from run {source}" in _text(b, ids.RUNS_TABLE))
    browser.get(f"{live_server}/compare?a={calibrated}&b={source}")
    WebDriverWait(browser, WAIT_S).until(
        lambda b: "calibrated on site-sample" in _text(b, ids.CMP_RUN_A))
