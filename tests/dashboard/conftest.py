"""Dashboard fixtures: the app on the engine-filled store, a live server, headless Chromium."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# A closed network: no updater, sync, QUIC or background fetches; a fresh profile each time.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--window-size=1400,1600")


@pytest.fixture(autouse=True)
def _trained_environment(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """Tests that use the trained store read it through CXR_HOME, whatever ran before."""
    if "trained_home" in request.fixturenames:
        home = request.getfixturevalue("trained_home")["home"]
        monkeypatch.setenv("CXR_HOME", str(home))
        monkeypatch.delenv("CXR_DATABASE_URL", raising=False)


@pytest.fixture(scope="session")
def dash_app(trained_home: dict):
    from dashboard.app import create_app

    os.environ["CXR_HOME"] = str(trained_home["home"])
    return create_app()


@pytest.fixture
def client(dash_app, trained_home: dict):
    return dash_app.server.test_client()


@pytest.fixture(scope="session")
def live_server(dash_app) -> Iterator[str]:
    """The app on a free localhost port, served by a thread of this process."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, dash_app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def chromium_driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("Debian's chromium and chromium-driver are not installed "
                    "(apt-get install -y chromium chromium-driver)")
    profile = tempfile.mkdtemp(prefix="cxr-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.profile_dir = profile
    return driver


@pytest.fixture(scope="session")
def browser() -> Iterator:
    driver = chromium_driver()
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(driver.profile_dir, ignore_errors=True)
