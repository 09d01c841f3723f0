"""Dashboard callbacks on 1,000 runs x 5,840 predictions (5.84M prediction rows), on SQLite and
PostgreSQL side by side, server-side through Dash's HTTP callback endpoint (POST
/_dash-update-component via Flask's test client); then the Errors page's first paint in
headless Chromium.

    python bench/bench_dashboard.py [--backend sqlite postgresql] [--calls 200] [--no-browser]

Goal: p95 <= 50 ms for the threshold recompute, the confusion-cell drill-down and the runs
table; Errors page first paint <= 2 s. The baseline, measured in the same run on
the same store, is the naive read the indexed path replaces: every prediction row of the
evaluation read back (db.evaluations.evaluation_rows: plain arrays, not ORM objects, since the
bench keeps to db/'s functions) and filtered and counted in Python. PostgreSQL is a private
server from Debian's packages (bench/postgres.py); each backend runs in its own process.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.fill_dashboard_db import fill, use_store  # noqa: E402

TARGET_MS = 50.0
FIRST_PAINT_TARGET_S = 2.0
BACKENDS = ("sqlite", "postgresql")
HOME = Path(tempfile.gettempdir()) / "cxr-bench-dashboard"
PG_DATABASE = "cxr_bench_dashboard"


def open_store(backend: str, home: Path = HOME, database: str = PG_DATABASE) -> str:
    """Point this process at the bench store of `backend`; return its URL."""
    if backend == "postgresql":
        from bench.postgres import database as pg_database

        return use_store(home, pg_database(database))
    home.mkdir(parents=True, exist_ok=True)
    return use_store(home)


def percentiles(samples: list[float]) -> tuple[float, float]:
    return float(np.percentile(samples, 50)), float(np.percentile(samples, 95))


def timed(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return (time.perf_counter() - start) * 1000


def naive_cell(evaluation_id: int, cell: str, threshold: float) -> list:
    """The baseline: every prediction of the evaluation read back, the cell picked in Python."""
    from db.evaluations import evaluation_rows

    true_label, positive = {"tn": (0, False), "fp": (0, True), "fn": (1, False),
                            "tp": (1, True)}[cell]
    stored = evaluation_rows(evaluation_id)
    chosen = [probability for probability, label in zip(stored.probability.tolist(),
                                                        stored.true_label.tolist(), strict=True)
              if label == true_label and (probability >= threshold) == positive]
    return sorted(chosen)[:48]


class Callbacks:
    """The dashboard app and its callbacks, called over HTTP with Flask's test client."""

    def __init__(self) -> None:
        from dashboard.app import create_app
        from db import runs
        from tests.auth_helpers import sign_in_client
        from tests.dashboard import dash_http

        self.http = dash_http
        self.app = create_app()
        # Signed in, as users are: each callback pays the session and role check it pays in use.
        self.client = sign_in_client(self.app.server.test_client())
        self.deps = dash_http.dependencies(self.client)
        self.run_ids = [run.id for run in runs.run_summaries()]

    def call(self, body: dict) -> None:
        status, _ = self.http.post(self.client, body)
        assert status == 200, status

    def drill_down(self, rng: random.Random, index: int) -> float:
        """One random drill-down: any run, cell, threshold, sort and page (of the first 5)."""
        run_id, cell = rng.choice(self.run_ids), rng.choice(("fn", "fp", "tn", "tp"))
        body = self.http.drill_down_body(
            self.deps, run_id, "test", rng.uniform(0.2, 0.8), cell,
            rng.choice(("confident_first", "borderline_first", "probability_asc")),
            1 if index % 2 else rng.randint(1, 5), overlay=bool(index % 3))
        return timed(self.call, body)


def measure(calls: int, seed: int = 0) -> tuple[dict[str, dict], object]:
    """(name -> {"samples": [...ms], "baseline": [...ms] or None}, the Dash app)."""
    from db import evaluations

    callbacks = Callbacks()
    rng = random.Random(seed)
    run_ids = callbacks.run_ids
    http = callbacks.http
    callbacks.call(http.recompute_body(callbacks.deps, run_ids[0], "test", 0.5))  # imports

    def baseline(cell: str, threshold: float) -> list[float]:
        return [timed(naive_cell, evaluations.evaluation_id_for(rng.choice(run_ids), "test"), cell,
                      threshold) for _ in range(min(calls, 30))]

    cold, warm = [], []
    for _ in range(calls):
        run_id = rng.choice(run_ids)  # mostly unseen evaluations: arrays read from the store
        cold.append(timed(callbacks.call, http.recompute_body(callbacks.deps, run_id, "test",
                                                              rng.random())))
        warm.append(timed(callbacks.call, http.recompute_body(callbacks.deps, run_id, "test",
                                                              rng.random())))
    results = {"threshold recompute (new run)": {"samples": cold,
                                                 "baseline": baseline("tn", 0.5)},
               "threshold recompute (same run)": {"samples": warm, "baseline": None}}
    drill = [callbacks.drill_down(rng, index) for index in range(calls)]
    results["confusion-cell drill-down"] = {"samples": drill, "baseline": baseline("fn", 0.5)}
    # The first fill after start-up reads every run's CAM pre-aggregate; later ones hit the cache.
    table = [timed(callbacks.call, http.runs_table_body(callbacks.deps))
             for _ in range(min(calls, 50))]
    results[f"runs table ({len(run_ids)} runs), first"] = {"samples": table[:1],
                                                          "baseline": None}
    results[f"runs table ({len(run_ids)} runs)"] = {"samples": table[1:], "baseline": None}
    return results, callbacks.app


def first_paint(app, loads: int = 5) -> dict:
    from selenium.webdriver.support.ui import WebDriverWait
    from werkzeug.serving import make_server

    from tests.dashboard.conftest import chromium_driver

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per thumbnail request
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
    return {"paint": paints, "ready": ready}


def run_backend(backend: str, args: argparse.Namespace) -> dict:
    start = time.perf_counter()
    url = open_store(backend)
    rows = fill(args.runs, args.images)
    ready = time.perf_counter() - start
    print(f"{backend}: {url} holds {rows:,} predictions ({args.runs} runs x {args.images}; "
          f"ready in {ready:.0f}s)", flush=True)
    results, app = measure(args.calls)
    paint = None if args.no_browser else first_paint(app)
    return {"backend": backend, "rows": rows, "results": results, "paint": paint}


def report(outcomes: list[dict]) -> None:
    names = list(outcomes[0]["results"])
    header = f"{'callback':<34}" + "".join(
        f"{o['backend'] + ' p50 / p95 ms':>28}" for o in outcomes)
    print(f"\n{header}   goal p95 <= {TARGET_MS:.0f} ms; naive-baseline p95 (x slower)")
    for name in names:
        line, notes = f"{name:<34}", []
        for outcome in outcomes:
            result = outcome["results"][name]
            p50, p95 = percentiles(result["samples"])
            verdict = "OK" if p95 <= TARGET_MS else "OVER"
            line += f"{p50:>12.1f} / {p95:7.1f} {verdict:<4}"
            if result["baseline"]:
                b95 = percentiles(result["baseline"])[1]
                notes.append(f"{outcome['backend']} {b95:.0f} ms ({b95 / p95:.1f}x)")
        print(line + "   " + "; ".join(notes), flush=True)
    for outcome in outcomes:
        paint = outcome["paint"]
        if paint:
            print(f"{outcome['backend']}: Errors page first contentful paint median "
                  f"{np.median(paint['paint']):.2f} s; confusion matrix filled median "
                  f"{np.median(paint['ready']):.2f} s, max {max(paint['ready']):.2f} s "
                  f"(goal {FIRST_PAINT_TARGET_S:.0f} s: "
                  f"{'OK' if max(paint['ready']) <= FIRST_PAINT_TARGET_S else 'OVER'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--images", type=int, default=5840)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--json", help=argparse.SUPPRESS)  # one backend's results, for main()
    args = parser.parse_args()
    from bench.common import machine

    if args.json:
        Path(args.json).write_text(json.dumps(run_backend(args.backend[0], args)))
        return
    print(machine(), flush=True)
    outcomes = []
    for backend in args.backend:  # one process each: one Dash app, one store per process
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            command = [sys.executable, __file__, "--backend", backend, "--runs", str(args.runs),
                       "--images", str(args.images), "--calls", str(args.calls),
                       "--json", out.name] + (["--no-browser"] if args.no_browser else [])
            if subprocess.run(command, check=False, env=os.environ).returncode == 0:
                outcomes.append(json.loads(Path(out.name).read_text()))
            else:
                print(f"{backend}: bench failed (see above)", flush=True)
    if outcomes:
        report(outcomes)


if __name__ == "__main__":
    main()
