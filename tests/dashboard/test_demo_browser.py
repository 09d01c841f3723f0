"""`cxr demo` as a user runs it: train on a tiny synthetic set, then score a JPEG in the browser.

The demo trains in its own process and then hands over to a fresh `cxr serve`: a gunicorn
worker forked from the training process would deadlock on its first torch operation.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import create_postgres_database, postgres_admin_url, real_data_root
from tests.reliability.served import free_port

pytestmark = pytest.mark.browser
REPO = Path(__file__).resolve().parents[2]
DEMO_START_S = 600  # ingest every image of CXR_DATA and train two models: slow on a busy CI machine
SCORES_WITHIN_S = 5


def _wait_until_served(process: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + DEMO_START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"cxr demo exited ({process.returncode}):\n"
                                 f"{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url + "/_dash-layout", timeout=5).read()
            return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"cxr demo did not serve in {DEMO_START_S} s:\n"
                         f"{log.read_text()[-3000:]}")


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[dict]:
    """`cxr demo --epochs 1 --images-per-class 30` on a new home, serving on a free port."""
    port = free_port()
    env = {**os.environ, "CXR_HOME": str(tmp_path / "home"),
           # Training uses torch's thread pool, as on a user's machine.
           "OMP_NUM_THREADS": "2"}
    env.pop("CXR_DATABASE_URL", None)
    if postgres_admin_url():
        env["CXR_DATABASE_URL"] = create_postgres_database(postgres_admin_url())
    log = tmp_path / "demo.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "engine.cli", "demo", "--epochs", "1",
             "--images-per-class", "30", "--port", str(port)],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_served(process, url, log)
        yield {"url": url, "process": process, "log": log}
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def test_demo_then_a_jpeg_scored_on_the_score_page(browser, demo: dict,  # noqa: ANN001
                                                   tmp_path: Path) -> None:
    source = sorted((real_data_root() / "PNEUMONIA").iterdir())[0]
    jpeg = tmp_path / source.name
    jpeg.write_bytes(source.read_bytes())
    browser.get(demo["url"] + "/score")
    field = WebDriverWait(browser, 60).until(EC.presence_of_element_located(
        (By.CSS_SELECTOR, "#score-upload input[type=file]")))
    started = time.monotonic()
    field.send_keys(str(jpeg))
    WebDriverWait(browser, SCORES_WITHIN_S).until(EC.text_to_be_present_in_element(
        (By.CSS_SELECTOR, "#score-results"), "P(pneumonia)"))
    elapsed = time.monotonic() - started
    probabilities = browser.find_elements(By.CSS_SELECTOR, "#score-results .score-probability")
    assert len(probabilities) == 2, "one score per demo model"
    assert jpeg.name in browser.find_element(By.ID, "score-results").text
    assert elapsed <= SCORES_WITHIN_S

    # Ctrl-C reaches the server that took over the demo's process, which stops promptly.
    process = demo["process"]
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=15) == 0
    log = demo["log"].read_text()
    assert "training resnet18" in log and "WORKER TIMEOUT" not in log
