"""Dashboard callbacks on 1,000 runs x 5,840 predictions, server-side, through Dash's HTTP
callback endpoint (POST /_dash-update-component via Flask's test client); then the Errors
page's first paint in headless Chromium.

    python bench/bench_dashboard.py [--home /tmp/cxr-bench-dashboard] [--calls 200]

Targets (issue 3): each callback p95 <= 100 ms; Errors page first paint <= 2 s. The baseline
is the naive read the indexed path replaces: every prediction row of the evaluation loaded as
ORM objects and filtered/counted in Python.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.fill_dashboard_db import fill  # noqa: E402

TARGET_MS = 100.0
FIRST_PAINT_TARGET_S = 2.0


def _percentiles(samples: list[float]) -> tuple[float, float]:
    return float(np.percentile(samples, 50)), float(np.percentile(samples, 95))


def _report(name: str, samples: list[float], baseline: list[float] | None = None) -> None:
    p50, p95 = _percentiles(samples)
    line = (f"{name:<34} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   p95/target "
            f"{p95 / TARGET_MS:4.2f}   {'OK' if p95 <= TARGET_MS else 'OVER'}")
    if baseline:
        b50, b95 = _percentiles(baseline)
        line += f"   baseline p95 {b95:7.1f} ms ({b95 / p95:4.1f}x slower)"
    print(line, flush=True)


def _timed(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return (time.perf_counter() - start) * 1000


def _naive_cell(evaluation_id: int, cell: str, threshold: float) -> list:
    from sqlalchemy import select

    from db.models import Prediction
    from db.session import session_scope

    true_label, positive = {"tn": (0, False), "fp": (0, True), "fn": (1, False),
                            "tp": (1, True)}[cell]
    with session_scope() as session:
        rows = session.scalars(select(Prediction).where(
            Prediction.evaluation_id == evaluation_id)).all()
        chosen = [row for row in rows if row.true_label == true_label
                  and (row.probability >= threshold) == positive]
    return sorted(chosen, key=lambda row: row.probability)[:48]


def bench_callbacks(calls: int, seed: int = 0) -> None:
    from dashboard.app import create_app
    from db import queries
    from tests.dashboard import dash_http

    app = create_app()
    client = app.server.test_client()
    deps = dash_http.dependencies(client)
    rng = random.Random(seed)
    run_ids = [run.id for run in queries.run_summaries()]

    def call(body: dict) -> None:
        status, _ = dash_http.post(client, body)
        assert status == 200, status

    call(dash_http.recompute_body(deps, run_ids[0], "test", 0.5))  # imports, first connection

    cold, warm, baseline = [], [], []
    for _ in range(calls):
        run_id = rng.choice(run_ids)  # mostly unseen evaluations: arrays read from SQLite
        cold.append(_timed(call, dash_http.recompute_body(deps, run_id, "test",
                                                          rng.random())))
        warm.append(_timed(call, dash_http.recompute_body(deps, run_id, "test",
                                                          rng.random())))
    for _ in range(min(calls, 30)):
        evaluation_id = queries.evaluation_id_for(rng.choice(run_ids), "test")
        baseline.append(_timed(lambda e: [_naive_cell(e, c, 0.5) for c in ("tn",)],
                               evaluation_id))
    _report("threshold recompute (new run)", cold, baseline)
    _report("threshold recompute (same run)", warm)

    drill, drill_base = [], []
    for index in range(calls):
        run_id, cell = rng.choice(run_ids), rng.choice(("fn", "fp", "tn", "tp"))
        threshold = rng.uniform(0.2, 0.8)
        page = 1 if index % 2 else rng.randint(1, 5)
        sort = rng.choice(("confident_first", "borderline_first", "probability_asc"))
        drill.append(_timed(call, dash_http.drill_down_body(deps, run_id, "test", threshold,
                                                            cell, sort, page,
                                                            overlay=bool(index % 3))))
    for _ in range(min(calls, 30)):
        evaluation_id = queries.evaluation_id_for(rng.choice(run_ids), "test")
        drill_base.append(_timed(_naive_cell, evaluation_id, "fn", 0.5))
    _report("confusion-cell drill-down", drill, drill_base)

    table = [_timed(call, dash_http.runs_table_body(deps)) for _ in range(min(calls, 50))]
    _report(f"runs table ({len(run_ids)} runs)", table)
    return app


def bench_first_paint(app, loads: int = 5) -> None:
    from selenium.webdriver.support.ui import WebDriverWait
    from werkzeug.serving import make_server

    from tests.dashboard.conftest import chromium_driver

    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/errors"
    driver = chromium_driver()
    paints, ready = [], []
    try:
        driver.get(url)  # warm the browser's cache of the JS bundles, as a returning user
        for _ in range(loads):
            start = time.perf_counter()
            driver.get(url)
            WebDriverWait(driver, 30).until(lambda d: d.execute_script(
                "const c = document.querySelectorAll('.cxr-cell-count');"
                "return c.length === 4 && Array.from(c).some(e => e.textContent !== '0');"))
            ready.append(time.perf_counter() - start)
            paint = driver.execute_script(
                "const p = performance.getEntriesByName('first-contentful-paint');"
                "return p.length ? p[0].startTime : null;")
            paints.append((paint or 0) / 1000)
    finally:
        driver.quit()
        server.shutdown()
    print(f"Errors page first contentful paint: median {np.median(paints):.2f} s, max "
          f"{max(paints):.2f} s; confusion matrix filled: median {np.median(ready):.2f} s, "
          f"max {max(ready):.2f} s (target {FIRST_PAINT_TARGET_S:.0f} s: "
          f"{'OK' if max(ready) <= FIRST_PAINT_TARGET_S else 'OVER'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", default="/tmp/cxr-bench-dashboard")
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--images", type=int, default=5840)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    start = time.perf_counter()
    fill(Path(args.home), args.runs, args.images)
    os.environ["CXR_HOME"] = args.home
    print(f"database: {args.home} ({args.runs} runs x {args.images} predictions; val 20% / "
          f"test 80% of each run; ready in {time.perf_counter() - start:.0f}s); "
          f"{os.cpu_count()} cores")
    app = bench_callbacks(args.calls)
    if not args.no_browser:
        bench_first_paint(app)


if __name__ == "__main__":
    main()
