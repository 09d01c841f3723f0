"""Wall time and peak RSS of `cxr score FILE --run ID` (one file, one run), as a user runs it.

    python bench/bench_score_cli.py FILE --run ID [--repeat 3]

Uses the store CXR_HOME / CXR_DATABASE_URL points at. Measured, not asserted (the
goal: 3 s and 600 MB on these machines).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time


def measure(file: str, run_id: int) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one `cxr score` process."""
    start = time.perf_counter()
    pid = subprocess.Popen([sys.executable, "-m", "engine.cli", "score", file, "--run",
                            str(run_id)], stdout=subprocess.DEVNULL).pid
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"cxr score exited with {os.waitstatus_to_exitcode(status)}")
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("--run", type=int, required=True)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    results = [measure(args.file, args.run) for _ in range(args.repeat)]
    walls, peaks = zip(*results, strict=True)
    print(f"cxr score, 1 file, run {args.run}: wall median {statistics.median(walls):.2f} s "
          f"(min {min(walls):.2f}, max {max(walls):.2f}); peak RSS max {max(peaks):.0f} MB "
          f"over {args.repeat} runs")


if __name__ == "__main__":
    main()
