"""The feature map: how long it takes to compute and to draw, at 5,840 and 100,000 images.

    python bench/map_speed.py [--sizes 5840 100000] [--dims 512] [--compare] [--no-browser]

Features are synthetic (a mixture of six Gaussian clusters in `--dims` dimensions, float16, as
evaluation stores them): the cost of the projection depends on the count and the width, not on
what the pixels were. For each size:
1. the projection alone (engine.evaluation.feature_map.project: PCA), and with `--compare` the
   alternatives measured against it in the same run: UMAP (umap-learn, if installed; its first
   call includes numba's compilation, as a fresh server process pays it) and scikit-learn's
   Barnes-Hut t-SNE (5,840 only), each with its trustworthiness (scikit-learn, 10 neighbours, on
   a 1,500-point sample; 1.0 = local neighbourhoods kept);
2. the whole map step evaluation runs (record_evaluation_map: the float16 artifact, the PCA and
   one row per point), on a generated SQLite store whose test evaluation has that many images;
3. in headless Chromium (the dashboard served in a thread, signed in): the Map page from
   navigation to every point present, and Plotly's draw alone (Plotly.newPlot of the same
   figure into a fresh element, the median of 5).
Goal: 5,840 images mapped in <= 30 s on 2 cores and drawn in < 1 s.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import machine  # noqa: E402
from bench.fill_dashboard_db import fill, use_store  # noqa: E402

TRUST_SAMPLE = 1500


def synthetic_features(n: int, dims: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 3.0, (6, dims))
    return (centres[rng.integers(0, 6, n)] + rng.normal(0.0, 1.0, (n, dims))).astype(np.float16)


def trust(features: np.ndarray, xy: np.ndarray) -> float:
    from sklearn.manifold import trustworthiness

    rows = np.random.default_rng(1).choice(len(features), min(TRUST_SAMPLE, len(features)),
                                           replace=False)
    return float(trustworthiness(features[rows].astype(np.float32), xy[rows], n_neighbors=10))


def projections(features: np.ndarray, compare: bool) -> dict[str, tuple[float, float]]:
    from engine.evaluation.feature_map import project

    found = {}
    for name in ("pca (first call)", "pca (warm)"):  # the first imports scikit-learn
        start = time.perf_counter()
        xy = project(features)
        found[name] = (time.perf_counter() - start, trust(features, xy))
    if not compare:
        return found
    values = features.astype(np.float32)
    try:
        import umap

        for name in ("umap (first call)", "umap (warm)"):
            start = time.perf_counter()
            xy = umap.UMAP(random_state=0, n_jobs=1).fit_transform(values)
            found[name] = (time.perf_counter() - start, trust(features, xy))
    except ImportError:
        print("umap-learn is not installed: pip install umap-learn to compare it")
    if len(features) <= 10_000:
        from sklearn.manifold import TSNE

        start = time.perf_counter()
        xy = TSNE(2, init="pca", random_state=0).fit_transform(values)
        found["t-SNE (scikit-learn)"] = (time.perf_counter() - start, trust(features, xy))
    return found


def map_store(n: int, dims: int, home: Path) -> tuple[int, float]:
    """A generated store whose run 1 has an n-image test evaluation; its map, timed."""
    from db import evaluations, gallery
    from engine.evaluation.feature_map import record_evaluation_map

    use_store(home)
    fill(1, n_images=n + n // 4, quiet=True)
    evaluation_id = evaluations.evaluation_id_for(1, "test")
    image_ids = [item.image_id for item in gallery.evaluation_predictions(evaluation_id)]
    assert len(image_ids) == n, (len(image_ids), n)
    start = time.perf_counter()
    record_evaluation_map(1, evaluation_id, image_ids, synthetic_features(n, dims))
    return evaluation_id, time.perf_counter() - start


POINTS_JS = ("const g = document.querySelector('#map-graph .js-plotly-plot');"
             "return g && g.data ? g.data.reduce((n, t) => n + (t.customdata || []).length, 0)"
             " : 0;")
REDRAW_JS = """
const done = arguments[arguments.length - 1];
const source = document.querySelector('#map-graph .js-plotly-plot');
const target = document.createElement('div');
target.style.width = '1200px'; target.style.height = '620px';
document.body.appendChild(target);
const start = performance.now();
Plotly.newPlot(target, source.data, source.layout).then(() => {
  requestAnimationFrame(() => { const ms = performance.now() - start; Plotly.purge(target);
                                target.remove(); done(ms); });
});
"""


def browser_times(n: int, loads: int = 3) -> tuple[list[float], list[float]]:
    from selenium.webdriver.support.ui import WebDriverWait

    from dashboard.app import create_app
    from tests.dashboard.conftest import signed_in_chromium
    from tests.score_server import serve_in_thread

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with serve_in_thread(create_app().server) as url, signed_in_chromium(url) as driver:
        driver.set_script_timeout(120)
        page = f"{url}/map?run=1&split=test&colour=cell"
        driver.get(page)  # warm the browser's cache of the JS bundles, as a returning user
        WebDriverWait(driver, 300).until(lambda d: d.execute_script(POINTS_JS) == n)
        ready = []
        for _ in range(loads):
            start = time.perf_counter()
            driver.get(page)
            WebDriverWait(driver, 300).until(lambda d: d.execute_script(POINTS_JS) == n)
            ready.append(time.perf_counter() - start)
        draws = [driver.execute_async_script(REDRAW_JS) / 1000 for _ in range(5)]
    return ready, draws


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5840, 100_000])
    parser.add_argument("--dims", type=int, default=512, help="feature width (resnet18: 512)")
    parser.add_argument("--compare", action="store_true",
                        help="also time UMAP and t-SNE against PCA")
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    print(machine())
    for n in args.sizes:
        features = synthetic_features(n, args.dims)
        for name, (seconds, kept) in projections(features, args.compare).items():
            print(f"{n:>7} x {args.dims}: {name:<22} {seconds:8.2f} s  trustworthiness {kept:.3f}")
        with tempfile.TemporaryDirectory() as home:
            _, seconds = map_store(n, args.dims, Path(home))
            print(f"{n:>7}: map step (artifact + PCA + {n} rows) {seconds:.2f} s "
                  f"(goal at 5,840: <= 30 s)")
            if not args.no_browser:
                ready, draws = browser_times(n)
                print(f"{n:>7}: Chromium, Map page to every point median "
                      f"{statistics.median(ready):.2f} s (of {len(ready)}); Plotly draw alone "
                      f"median {statistics.median(draws):.3f} s, worst {max(draws):.3f} s "
                      "(goal < 1 s)")


if __name__ == "__main__":
    main()
