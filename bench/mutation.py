"""Mutation score of the test net: the share of mutants its tests kill, per guarded module.

    python -m bench.mutation --root COPY [--sample N] [--only NAME ...]

Mutants are mutmut's (`pip install mutmut==2.5.1`); each is written into the source file of
COPY in turn, the module's own tests run against it (pytest -x), and the file is restored. A
mutant is killed when those tests fail or time out. Run it on a scratch copy of the tree
(`git archive HEAD | tar -x -C COPY`): it rewrites COPY's files while it runs. `--sample N`
tests N mutants per module, evenly spaced through mutmut's list, so two runs on the same source
test the same mutants.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

# module -> (files mutated, the tests that exercise them)
EVALUATION, DATA = "tests/engine/evaluation", "tests/engine/data"
MODULES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "calibration": (("engine/evaluation/calibration.py",), (f"{EVALUATION}/test_calibration.py",)),
    "thresholds": (("engine/evaluation/thresholds.py",), (f"{EVALUATION}/test_calibration.py",)),
    "metrics": (("engine/evaluation/metrics.py",), (f"{EVALUATION}/test_metrics.py",
                                                     f"{EVALUATION}/test_calibration.py")),
    "deid": (("engine/data/deid.py",), (f"{DATA}/test_deid.py", "-k", "not stored_dicom")),
    "request guard": (("dashboard/auth.py", "dashboard/callback_shape.py"), (
        # test_sessions.py and the `cxr serve` start-up test time real waits: they flake on a
        # loaded machine, which would count a surviving mutant as killed.
        "tests/dashboard/test_callback_guard.py", "tests/dashboard/test_auth.py",
        "-k", "not serve_on_an_open_address")),
    "registration": (("db/datasets.py",), (
        f"{DATA}/test_data.py", f"{DATA}/test_data_integrity.py",
        f"{DATA}/test_registration_property.py")),
}


def mutants(path: Path) -> list:
    from mutmut import Context, list_mutations

    return list_mutations(Context(filename=str(path)))


def evenly(items: list, count: int | None) -> list:
    if count is None or count >= len(items):
        return items
    return [items[round(i * (len(items) - 1) / (count - 1))] for i in range(count)] \
        if count > 1 else items[:1]


def run_tests(root: Path, tests: tuple[str, ...], timeout: float) -> tuple[bool, float]:
    """(passed, seconds) of the tests on the tree as it is now."""
    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"}
    started = time.monotonic()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
            cwd=root, env=env, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, timeout
    return result.returncode == 0, time.monotonic() - started


def drop_bytecode(path: Path) -> None:
    """A mutant of the same size written within the same second could reuse a stale .pyc."""
    for cached in (path.parent / "__pycache__").glob(f"{path.stem}.*.pyc"):
        cached.unlink()


def measure(root: Path, name: str, sample: int | None) -> dict:
    from mutmut import Context, mutate

    files, tests = MODULES[name]
    passed, baseline = run_tests(root, tests, timeout=900)
    if not passed:
        raise SystemExit(f"{name}: the tests fail on the unmutated tree; fix that first")
    killed, survived = 0, []
    for relative in files:
        path = root / relative
        original = path.read_text()
        for mutation_id in evenly(mutants(path), sample):
            mutated, _ = mutate(Context(source=original, mutation_id=mutation_id,
                                        filename=str(path)))
            path.write_text(mutated)
            drop_bytecode(path)
            try:
                failed = not run_tests(root, tests, timeout=3 * baseline + 30)[0]
            finally:
                path.write_text(original)
                drop_bytecode(path)
            killed += failed
            print(f"{name}: {relative}:{mutation_id.line_number + 1} #{mutation_id.index} "
                  f"{'killed' if failed else 'SURVIVED'}", file=sys.stderr, flush=True)
            if not failed:
                survived.append(f"{relative}:{mutation_id.line_number + 1}: "
                                f"{mutation_id.line.strip()} (#{mutation_id.index})")
    total = killed + len(survived)
    return {"module": name, "killed": killed, "total": total,
            "share": round(killed / total, 3) if total else None, "survived": survived}


def main() -> None:
    # A stop (SIGTERM) still restores the file under test: the `finally` in `measure` runs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="a scratch copy of the tree")
    parser.add_argument("--sample", type=int, default=None, help="mutants per module")
    parser.add_argument("--only", nargs="*", default=list(MODULES), choices=list(MODULES))
    args = parser.parse_args()
    for name in args.only:
        result = measure(args.root.resolve(), name, args.sample)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
