"""Dashboard fixtures: the app on the engine-filled store, a live server, headless Chromium."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import point_at

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# A closed network: no updater, sync, QUIC or background fetches; a fresh profile each time.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--window-size=1400,1600")


@pytest.fixture(autouse=True)
def _trained_environment(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """Tests that use a trained store read it through CXR_HOME (and CXR_DATABASE_URL on
    PostgreSQL), whatever ran before."""
    if "quality_home" in request.fixturenames:
        store = request.getfixturevalue("quality_home")
        point_at(monkeypatch, store["home"], store["url"])
    elif "trained_home" in request.fixturenames:
        home = request.getfixturevalue("trained_home")["home"]
        point_at(monkeypatch, home, request.getfixturevalue("trained_url"))


@pytest.fixture(scope="session")
def quality_home(tmp_path_factory: pytest.TempPathFactory, real_subset: Path) -> dict:
    """A store of its own (trained_home must keep exactly two runs): two small-CNN runs, their
    ensemble (val and test evaluated like any run) and one robustness check (blur on val)."""
    from db.session import database_url
    from engine.evaluation.ensembles import create_ensemble
    from engine.evaluation.evaluate import evaluate_run
    from engine.training.train import TrainConfig, main
    from tests.conftest import cxr_environment

    with cxr_environment(tmp_path_factory.mktemp("quality-home")) as home:
        run_ids = [main(TrainConfig(arch="small_cnn", data=str(real_subset), epochs=1,
                                    image_size=64, batch_size=16, seed=seed,
                                    name=f"quality-seed{seed}")) for seed in (0, 1)]
        ensemble_id = create_ensemble(run_ids, name="quality-ensemble")
        shift_evaluation = evaluate_run(run_ids[0], shift="blur")
        url = os.environ.get("CXR_DATABASE_URL")
        assert url is None or url == database_url()
    # cxr_environment put the previous store back; tests reach this one through the autouse
    # fixture above.
    return {"home": home, "url": url, "run_ids": run_ids, "ensemble_id": ensemble_id,
            "shift_evaluation": shift_evaluation, "data": real_subset}


@pytest.fixture(scope="session")
def dash_app(trained_home: dict, trained_url: str | None):
    from dashboard.app import create_app

    os.environ["CXR_HOME"] = str(trained_home["home"])
    if trained_url:
        os.environ["CXR_DATABASE_URL"] = trained_url
    return create_app()


@pytest.fixture
def client(dash_app, trained_home: dict):
    """A test client signed in as the test admin (sign-in is on, as in production)."""
    from tests.auth_helpers import sign_in_client

    return sign_in_client(dash_app.server.test_client())


@pytest.fixture(scope="session")
def live_server(dash_app) -> Iterator[str]:
    """The app on a free localhost port, served by a thread of this process."""
    from tests.score_server import serve_in_thread

    with serve_in_thread(dash_app.server) as url:
        yield url


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


@contextmanager
def signed_in_chromium(url: str) -> Iterator:
    """Chromium signed in to the server at `url` as the test admin, through the sign-in page;
    quit and its profile removed on exit."""
    from tests.auth_helpers import sign_in_browser

    driver = chromium_driver()
    try:
        sign_in_browser(driver, url)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(driver.profile_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def browser(live_server: str) -> Iterator:
    """Chromium signed in to the live server as the test admin, through the sign-in page."""
    with signed_in_chromium(live_server) as driver:
        yield driver


@pytest.fixture(scope="module")
def empty_app(tmp_path_factory: pytest.TempPathFactory):
    """The app, sign-in on, over an empty store of its own (no training: sign-in tests)."""
    from dashboard.app import create_app
    from tests.conftest import cxr_environment

    with cxr_environment(tmp_path_factory.mktemp("empty-app-home")):
        yield create_app()
