"""The README's dashboard screenshots, made again from scratch: `make screenshots`.

Builds a throwaway store from the SYNTHETIC demo data (`cxr demo --no-serve` with CXR_DATA
unset: never real X-rays, whose derived images must never be committed), adds an admin with
`cxr users add`, serves it with `cxr serve` on 127.0.0.1 with sign-in on, signs in through the
sign-in page in headless Chromium, visits each page (a confusion cell clicked and an image's
detail opened on Errors, a synthetic image scored on Score) and writes docs/screenshots/*.png,
1200 px wide, as palette PNGs.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# The tests' closed-network flags (tests/dashboard/conftest.py), at the width of the images.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars")
WIDTH = 1200
MAX_HEIGHT = 1500
ADMIN = "admin"
WAIT_S = 60
SERVE_WITHIN_S = 120


def cxr(env: dict, *args: str, stdin: str | None = None) -> None:
    """Run one `cxr` command as a user would (`python -m engine.cli`), failing loudly."""
    subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=REPO, env=env,
                   input=stdin, text=True, check=True)


def build_store(env: dict, home: Path, password: str) -> None:
    """The demo's store on synthetic data (two runs), and an admin to sign in with; a store
    this script built before is reused, with a new password."""
    if (home / "cxr.db").exists():
        cxr(env, "users", "reset-password", ADMIN, stdin=password + "\n")
        return
    cxr(env, "demo", "--no-serve")
    cxr(env, "users", "add", ADMIN, "--role", "admin", stdin=password + "\n")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def served(env: dict) -> Iterator[str]:
    """`cxr serve` on a free loopback port, sign-in on; stopped on exit."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "serve", "--host", "127.0.0.1", "--port",
         str(port), "--workers", "1"], cwd=REPO, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVE_WITHIN_S
        while True:
            try:
                urllib.request.urlopen(url + "/login", timeout=5).read()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"cxr serve did not start at {url}") from None
                time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def chromium() -> Iterator[webdriver.Chrome]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        raise SystemExit("needs Debian's chromium and chromium-driver "
                         "(apt-get install -y chromium chromium-driver)")
    profile = tempfile.mkdtemp(prefix="cxr-screenshots-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--window-size={WIDTH},900", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def sign_in(driver: webdriver.Chrome, url: str, password: str) -> None:
    driver.get(f"{url}/login")
    driver.find_element(By.ID, "login-name").send_keys(ADMIN)
    driver.find_element(By.ID, "login-password").send_keys(password)
    driver.find_element(By.ID, "login-submit").click()
    WebDriverWait(driver, WAIT_S).until(lambda d: "/login" not in d.current_url)


def settled(driver: webdriver.Chrome) -> bool:
    """No Dash callback or loading spinner pending."""
    return driver.execute_script(
        "return !document.querySelector('._dash-loading, ._dash-loading-callback, "
        "[data-dash-is-loading=\"true\"]');")


def save(driver: webdriver.Chrome, name: str, max_height: int = MAX_HEIGHT,
         top: str | None = None) -> Path:
    """The page from its top (or from element `top`) down to `max_height`, WIDTH px wide, as an
    optimised palette PNG."""
    WebDriverWait(driver, WAIT_S).until(settled)
    time.sleep(1.0)  # plotly draws after its callback returns
    height = 0
    while height != (height := driver.execute_script(
            "return document.documentElement.scrollHeight;")):
        driver.set_window_size(WIDTH, min(max(height, 700), max_height))
        time.sleep(0.5)
    if top:
        driver.execute_script("arguments[0].scrollIntoView({block: 'start'});",
                              driver.find_element(By.CSS_SELECTOR, top))
    else:
        driver.execute_script("window.scrollTo(0, 0);")
    time.sleep(0.3)
    path = OUT / f"{name}.png"
    driver.save_screenshot(str(path))
    image = Image.open(path).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    driver.set_window_size(WIDTH, 900)
    print(f"wrote {path.relative_to(REPO)} ({path.stat().st_size // 1024} KiB)", flush=True)
    return path


def wait_for(driver: webdriver.Chrome, test: Callable[[webdriver.Chrome], object]) -> None:
    WebDriverWait(driver, WAIT_S).until(test)


def has(selector: str) -> Callable[[webdriver.Chrome], object]:
    return lambda driver: driver.find_elements(By.CSS_SELECTOR, selector)


def click(driver: webdriver.Chrome, selector: str) -> None:
    """Click the first element matching `selector`, wherever it is on the page."""
    element = driver.find_element(By.CSS_SELECTOR, selector)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    driver.execute_script("arguments[0].click();", element)


def errors_page(driver: webdriver.Chrome, url: str) -> None:
    """Errors for the ResNet18 demo run on test: its false negatives clicked (or, when it has
    none, false positives) and the first image's detail opened."""
    driver.get(f"{url}/errors?run=2&split=test")
    counts_script = ("return ['fn', 'fp', 'tp'].map(cell => { const count = document."
                     "querySelector(`[id*='\"cell\":\"${cell}\"'] .cxr-cell-count`);"
                     " return count ? count.textContent : ''; });")
    wait_for(driver, lambda d: all(n.isdigit() for n in d.execute_script(counts_script)))
    counts = driver.execute_script(counts_script)
    cell = next((c for c, n in zip(("fn", "fp", "tp"), counts, strict=True) if int(n)), "tp")
    click(driver, f"[id*='\"cell\":\"{cell}\"'][id*='errors-cell']")
    wait_for(driver, lambda d: f"cell={cell}" in d.current_url)
    wait_for(driver, has("#errors-gallery .cxr-tile"))
    wait_for(driver, settled)
    time.sleep(1.0)  # the gallery of the newly clicked cell replaces the first one
    click(driver, "#errors-gallery .cxr-tile")
    wait_for(driver, lambda d: "image=" in d.current_url)
    wait_for(driver, lambda d: "Image #" in d.find_element(By.ID, "errors-detail").text)
    save(driver, "errors", max_height=1250)
    save(driver, "errors-detail", max_height=900, top="#errors-detail")


def score_page(driver: webdriver.Chrome, url: str, image: Path) -> None:
    driver.get(f"{url}/score")
    wait_for(driver, has("#score-upload input[type=file]"))
    driver.find_element(By.CSS_SELECTOR, "#score-upload input[type=file]").send_keys(str(image))
    wait_for(driver, lambda d: "P(pneumonia)" in d.find_element(By.ID, "score-results").text)
    save(driver, "score")


def tour(driver: webdriver.Chrome, url: str, image: Path) -> None:
    driver.get(f"{url}/")
    wait_for(driver, has("#runs-table"))
    wait_for(driver, has("#runs-roc .main-svg"))
    save(driver, "runs")
    errors_page(driver, url)
    driver.get(f"{url}/compare?a=1&b=2&split=test")
    wait_for(driver, has("#compare-deltas table, #compare-deltas .alert"))
    save(driver, "compare")
    score_page(driver, url, image)
    driver.get(f"{url}/dataset")
    wait_for(driver, has("#leakage-result"))
    save(driver, "dataset")
    driver.get(f"{url}/audit")
    wait_for(driver, has("#audit-table"))
    save(driver, "audit", max_height=800)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path,
                        help="CXR_HOME to build in and keep, or one it built before to reuse "
                        "(default: a temporary one)")
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="cxr-screenshots-home-"))
    env = {key: value for key, value in os.environ.items()
           if key not in ("CXR_DATA", "CXR_DATABASE_URL")}  # synthetic data, its own SQLite
    env.update(CXR_HOME=str(home), CXR_NO_PROGRESS="1", PYTHONPATH=str(REPO))
    password = secrets.token_urlsafe(16)
    OUT.mkdir(parents=True, exist_ok=True)
    try:
        build_store(env, home, password)
        upload = next(p for p in sorted((home / "demo-data" / "PNEUMONIA").glob("*.png"))
                      if not p.stem.endswith("_mask"))
        with served(env) as url, chromium() as driver:
            sign_in(driver, url, password)
            tour(driver, url, upload)
    finally:
        if args.home is None:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
