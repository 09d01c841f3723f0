"""Open a report from file:// in headless Chromium with the network off, and say what happened:
the requests the page made, the console's errors, and which plotly figures drew an SVG."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.dashboard.conftest import CHROMEDRIVER, CHROMIUM, CHROMIUM_FLAGS

# Any request Chromium would send goes to this closed port instead of leaving the machine.
CLOSED_PROXY = "--proxy-server=http://127.0.0.1:9"
# Each figure's hover label is drawn too (its last trace's first point), as a mouse would.
HOVER_EACH = ("return Array.from(document.querySelectorAll('.plotly-graph-div')).map(div => {"
              " Plotly.Fx.hover(div, [{curveNumber: div.data.length - 1, pointNumber: 0}]);"
              " return div.querySelectorAll('.hoverlayer .hovertext').length > 0; });")


@dataclass(frozen=True)
class OfflineView:
    requests: list[str]  # every URL the page asked for (its own file:// included)
    severe: list[str]  # console entries at level SEVERE
    drawn: dict[str, bool]  # plotly div id -> it holds a drawn SVG
    hovered: list[bool]  # each figure drew a hover label
    notice: str  # the first visible line
    image_count: int
    image_sources: list[str]  # the scheme of each <img> source


def _driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("Debian's chromium and chromium-driver are not installed")
    profile = tempfile.mkdtemp(prefix="cxr-report-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, CLOSED_PROXY, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.profile_dir = profile
    return driver


def open_offline(report: Path, settle_s: float = 0.5,
                 screenshot: Path | None = None) -> OfflineView:
    driver = _driver()
    try:
        driver.get("about:blank")
        driver.get_log("performance")  # the new tab page's own loads are not the report's
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
            "offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
        driver.get(report.resolve().as_uri())
        deadline = time.monotonic() + 20
        script = ("return Array.from(document.querySelectorAll('.plotly-graph-div'))"
                  ".map(d => [d.id, !!d.querySelector('svg.main-svg')]);")
        while time.monotonic() < deadline:
            drawn = dict(driver.execute_script(script))
            if drawn and all(drawn.values()):
                break
            time.sleep(0.2)
        hovered = driver.execute_script(HOVER_EACH)
        time.sleep(settle_s)  # anything the page would fetch late
        requests = [message["params"]["request"]["url"]
                    for entry in driver.get_log("performance")
                    if (message := json.loads(entry["message"])["message"])["method"]
                    == "Network.requestWillBeSent"]
        severe = [entry["message"] for entry in driver.get_log("browser")
                  if entry["level"] == "SEVERE"]
        notice = driver.execute_script("return document.body.firstElementChild.innerText;")
        sources = driver.execute_script(
            "return Array.from(document.images).map(i => i.src.split(':')[0]);")
        if screenshot is not None:
            driver.set_window_size(1300, driver.execute_script(
                "return document.body.scrollHeight;"))
            driver.save_screenshot(str(screenshot))
        return OfflineView(requests, severe, drawn, hovered, notice, len(sources), sources)
    finally:
        driver.quit()
        shutil.rmtree(driver.profile_dir, ignore_errors=True)
