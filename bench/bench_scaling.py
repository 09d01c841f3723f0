"""Scaling curve: confusion-cell drill-down p95 against the size of the predictions table
(10k, 100k, 1M, 5.84M rows), on SQLite and PostgreSQL.

    python bench/bench_scaling.py [--backend sqlite postgresql] [--calls 200]

Each backend's store starts empty and grows (deterministically, bench/fill_dashboard_db.py)
through each size; the drill-down is measured at each, through Dash's HTTP callback endpoint
as in bench_dashboard.py. The figure is p95 at each size as a ratio to p95 at the smallest,
beside the ratio of rows: an indexed read stays near 1x (flat or logarithmic) while a scan
grows with the rows. The store it leaves (1,000 runs) is the one bench_dashboard.py reuses.
"""

from __future__ import annotations

import argparse
import math
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.bench_dashboard import (  # noqa: E402
    BACKENDS,
    HOME,
    PG_DATABASE,
    Callbacks,
    open_store,
    percentiles,
)
from bench.fill_dashboard_db import fill  # noqa: E402

SIZES = (10_000, 100_000, 1_000_000, 5_840_000)
IMAGES = 5840


def reset_store(backend: str) -> None:
    """Start from an empty store, so every size on the curve is measured on the way up."""
    if backend == "postgresql":
        from sqlalchemy import create_engine, text

        from bench.postgres import admin_url

        engine = create_engine(admin_url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)'))
        engine.dispose()
    else:
        shutil.rmtree(HOME, ignore_errors=True)


def curve(backend: str, calls: int, sizes: list[int]) -> list[tuple[int, float, float]]:
    """[(rows, p50 ms, p95 ms)] at each size."""
    reset_store(backend)
    open_store(backend)
    points, callbacks = [], None
    for size in sizes:
        start = time.perf_counter()
        rows = fill(math.ceil(size / IMAGES), IMAGES, quiet=True)
        grown = time.perf_counter() - start
        callbacks = callbacks or Callbacks()
        callbacks.run_ids = list(range(1, math.ceil(size / IMAGES) + 1))
        rng = random.Random(0)
        callbacks.drill_down(rng, 0)  # first connection after growing
        samples = [callbacks.drill_down(rng, index) for index in range(calls)]
        p50, p95 = percentiles(samples)
        points.append((rows, p50, p95))
        print(f"  {backend}: {rows:>9,} rows (grown in {grown:.0f}s): drill-down p50 "
              f"{p50:.1f} ms, p95 {p95:.1f} ms", flush=True)
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--one", help=argparse.SUPPRESS)  # one backend in this process
    args = parser.parse_args()
    if args.one:
        points = curve(args.one, args.calls, args.sizes)
        base_rows, _, base_p95 = points[0]
        print(f"\n{args.one}: drill-down p95 vs predictions table size")
        print(f"{'rows':>10} {'p50 ms':>8} {'p95 ms':>8} {'rows x':>8} {'p95 x':>7}")
        for rows, p50, p95 in points:
            print(f"{rows:>10,} {p50:>8.1f} {p95:>8.1f} {rows / base_rows:>8.0f} "
                  f"{p95 / base_p95:>7.2f}")
        growth = points[-1][2] / base_p95
        ratio = points[-1][0] / base_rows
        print(f"{args.one}: {ratio:.0f}x the rows cost {growth:.2f}x the p95 "
              f"({'flat or logarithmic' if growth < 1 + math.log10(ratio) else 'GROWS'}; "
              f"linear would be {ratio:.0f}x)", flush=True)
        return
    from bench.common import machine

    print(machine(), flush=True)
    for backend in args.backend:  # one process each: one Dash app, one store per process
        done = subprocess.run([sys.executable, __file__, "--one", backend, "--calls",
                               str(args.calls), "--sizes", *map(str, args.sizes)], check=False)
        if done.returncode:
            print(f"{backend}: scaling bench failed (exit {done.returncode}, see above)")


if __name__ == "__main__":
    main()
