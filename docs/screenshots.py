"""The README's dashboard screenshots, made again from scratch: `make screenshots`.

Builds a throwaway store from the SYNTHETIC demo data (`cxr demo --no-serve` with CXR_DATA
unset: never real X-rays, whose derived images must never be committed), adds an admin with
`cxr users add`, serves it with `cxr serve` on 127.0.0.1 with sign-in on, signs in through the
sign-in page in headless Chromium, visits each page (a confusion cell clicked and an image's
detail opened on Errors, a box selection made on Map, a synthetic image scored on Score) and
writes docs/screenshots/*.png, 1200 px wide, as palette PNGs. The store also holds a small 3-fold
crossval run (the Errors page's "Suspected label errors" queue) and the ResNet18 run promoted to
`production` (the Runs page's Aliases card). The look-alikes, slices and label-queue images are
cropped to their panel; the look-alikes one is taken 1360 px wide, its 8 tiles in one row.
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
from selenium.webdriver.common.action_chains import ActionChains
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
LOOKALIKES_WIDTH = 1360
ADMIN = "admin"
WAIT_S = 60
SERVE_WITHIN_S = 120
CROP_PAD = 8
PRODUCTION_RUN = "2"  # the demo's ResNet18 run
# Kept small: a crossval of its own on the demo data only for the label-error queue.
CROSSVAL = ("--folds", "3", "--arch", "small_cnn", "--epochs", "6", "--image-size", "64",
            "--batch-size", "32")


def cxr(env: dict, *args: str, stdin: str | None = None) -> None:
    """Run one `cxr` command as a user would (`python -m engine.cli`), failing loudly."""
    subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=REPO, env=env,
                   input=stdin, text=True, check=True)


def build_store(env: dict, home: Path, password: str) -> None:
    """The demo's store on synthetic data (two runs), a 3-fold crossval run on the same data,
    run 2 promoted to production, and an admin to sign in with; a store this script built
    before is reused, with a new password."""
    if (home / "cxr.db").exists():
        cxr(env, "users", "reset-password", ADMIN, stdin=password + "\n")
        return
    cxr(env, "demo", "--no-serve")
    cxr(env, "crossval", "--data", str(home / "demo-data"), *CROSSVAL)
    cxr(env, "promote", PRODUCTION_RUN)
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
         top: str | None = None, crop: bool = False, width: int = WIDTH) -> Path:
    """The page from its top (or from element `top`), at most `max_height` px of it, `width` px
    wide, as an optimised palette PNG; with `crop`, only element `top`'s box (and CROP_PAD
    around it)."""
    WebDriverWait(driver, WAIT_S).until(settled)
    time.sleep(1.0)  # plotly draws after its callback returns
    driver.set_window_size(width, 900)
    # The window is taller than the page it shows by the browser's own bars.
    bars = 900 - driver.execute_script("return window.innerHeight;")
    height = 0
    while height != (height := driver.execute_script(
            "return document.documentElement.scrollHeight;")):
        driver.set_window_size(width, min(max(height, 700), max_height) + bars)
        time.sleep(0.5)
    element = driver.find_element(By.CSS_SELECTOR, top) if top else None
    # 'instant': Bootstrap's smooth scrolling would still be moving at the screenshot
    if element is not None:
        driver.execute_script("arguments[0].scrollIntoView({block: 'start', "
                              "behavior: 'instant'});", element)
    else:
        driver.execute_script("window.scrollTo({top: 0, behavior: 'instant'});")
    time.sleep(0.3)
    path = OUT / f"{name}.png"
    driver.save_screenshot(str(path))
    image = Image.open(path).convert("RGB")
    if crop and element is not None:
        box = driver.execute_script("const r = arguments[0].getBoundingClientRect();"
                                    " return [r.left, r.top, r.right, r.bottom];", element)
        image = image.crop((max(int(box[0]) - CROP_PAD, 0), max(int(box[1]) - CROP_PAD, 0),
                            min(int(box[2]) + CROP_PAD, image.width),
                            min(int(box[3]) + CROP_PAD, image.height)))
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
    driver.execute_script("arguments[0].scrollIntoView({block: 'center', "
                          "behavior: 'instant'});", element)
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
    save(driver, "errors", max_height=1750)  # the matrix, the slices and the gallery
    save(driver, "errors-detail", max_height=900, top="#errors-detail")
    wait_for(driver, has("#errors-detail .cxr-lookalike, #errors-detail "
                         ".cxr-lookalikes-missing"))
    # A little wider than the rest: the strip's 8 tiles in one row.
    save(driver, "lookalikes", max_height=1500, top="#errors-detail", crop=True,
         width=LOOKALIKES_WIDTH)
    wait_for(driver, has("#slices-table, #slices-unavailable"))
    save(driver, "slices", max_height=1200, top=".cxr-card:has(#errors-slices)", crop=True)
    wait_for(driver, has("#label-queue .cxr-label-issue"))  # the crossval run's queue
    save(driver, "label-queue", max_height=1150, top="#label-queue", crop=True)


def select_box(driver: webdriver.Chrome, graph: str) -> None:
    """Box-select on the plotly graph `graph` around its last drawn trace's first point (on
    the Map page, a false negative: the rarest, telling cell, drawn last) with a real drag."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});",
                          driver.find_element(By.CSS_SELECTOR, graph))
    driver.execute_script(f"document.querySelector(\"{graph} .modebar-btn[data-val='select']\")"
                          ".click();")
    x, y, left, top, right, bottom = driver.execute_script(f"""
        const gd = document.querySelector("{graph} .js-plotly-plot");
        const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
        const trace = gd._fullData.filter(t => t.x && t.x.length).pop();
        const box = gd.getBoundingClientRect();
        return [box.left + xa._offset + xa.l2p(trace.x[0]),
                box.top + ya._offset + ya.l2p(trace.y[0]), box.left + xa._offset,
                box.top + ya._offset, box.left + xa._offset + xa._length,
                box.top + ya._offset + ya._length];""")
    corners = [(min(max(x + dx, left + 2), right - 2), min(max(y + dy, top + 2), bottom - 2))
               for dx, dy in ((-90, -70), (90, 70))]
    actions = ActionChains(driver)
    pointer = actions.w3c_actions.pointer_action
    pointer.move_to_location(*map(int, corners[0]))
    pointer.pointer_down()
    for step in range(1, 6):
        pointer.move_to_location(*(int(a + (b - a) * step / 5)
                                   for a, b in zip(*corners, strict=True)))
    pointer.pointer_up()
    pointer.move_to_location(2, 2)  # no hover label over the screenshot
    actions.perform()


def map_page(driver: webdriver.Chrome, url: str) -> None:
    """The ResNet18 run's test map, coloured by confusion cell, with a box selection made."""
    driver.get(f"{url}/map?run=2&split=test&colour=cell")
    wait_for(driver, lambda d: d.execute_script(
        "const gd = document.querySelector('#map-graph .js-plotly-plot');"
        " return gd && gd._fullData && gd._fullData.length >= 4;"))
    wait_for(driver, settled)
    time.sleep(1.0)
    select_box(driver, "#map-graph")
    wait_for(driver, has("#map-open-selection"))
    save(driver, "map", max_height=1250)


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
    wait_for(driver, lambda d: "production" in d.find_element(By.ID, "runs-aliases").text)
    save(driver, "runs")
    errors_page(driver, url)
    driver.get(f"{url}/compare?a=1&b=2&split=test")
    wait_for(driver, has("#compare-deltas table, #compare-deltas .alert"))
    save(driver, "compare")
    wait_for(driver, has("#compare-slices-table, #compare-slices .text-muted"))
    save(driver, "slices-compare", max_height=1200, top=".cxr-card:has(#compare-slices)",
         crop=True)
    map_page(driver, url)
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
