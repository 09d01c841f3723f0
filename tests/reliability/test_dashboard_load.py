"""The dashboard keeps answering while the engine writes a large evaluation.

`cxr serve` (gunicorn, 2 workers, as in production) serves 1,000 callback requests from 8
concurrent clients while an engine process writes evaluations of a large external dataset
through `engine.evaluations.complete_evaluation`, one write transaction each (what `cxr evaluate`
does). Every request must succeed; nothing may say "database is locked". p50/p95 latency during
the write is printed for the release note.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from sqlalchemy import delete, func, select

from db.models import Dataset, Evaluation, Prediction
from db.session import session_scope
from tests.dashboard import dash_http
from tests.reliability.served import REPO, Served, cxr_serve

CLIENTS = 8
REQUESTS = 1000
BULK_IMAGES = 20_000  # predictions per evaluation, written in one transaction


@pytest.fixture(scope="module")
def served(trained_home: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with cxr_serve(tmp_path_factory.mktemp("load-serve") / "serve.log") as server:
        yield server


class Writer:
    """The engine writer subprocess and the write transactions it reports."""

    def __init__(self, run_id: int, folder: Path) -> None:
        self.stop_file = folder / "stop"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.bulk_writer", str(run_id),
             str(BULK_IMAGES), str(self.stop_file)], cwd=REPO, env=dict(os.environ),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.dataset_id: int | None = None
        self.writes: list[dict] = []
        self.first_write = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if "dataset_id" in record:
                self.dataset_id = record["dataset_id"]
            elif "evaluation_id" in record:
                self.writes.append(record)
                self.first_write.set()

    def stop(self) -> str:
        self.stop_file.write_text("stop")
        self.process.wait(timeout=120)
        self._reader.join(timeout=10)
        return "".join(self.lines)

    def writing_at(self, moment: float) -> bool:
        return any(w["begin"] <= moment <= w["end"] for w in self.writes)


def _request_bodies(deps: list[dict], run_id: int) -> list[dict]:
    """What an analyst drives on the Errors page: threshold recompute and cell drill-down."""
    bodies = []
    for index in range(REQUESTS):
        threshold = round(0.05 + 0.9 * (index % 97) / 96, 4)
        if index % 2:
            bodies.append(dash_http.recompute_body(deps, run_id, "test", threshold))
        else:
            bodies.append(dash_http.drill_down_body(
                deps, run_id, "test", threshold, dash_http.CELLS[index // 2 % 4],
                sort=("confident_first", "probability_asc")[index // 8 % 2]))
    return bodies


def _percentile(values: list[float], share: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(share * 100) - 1]


def _remove_bulk_rows(dataset_id: int | None) -> None:
    if dataset_id is None:
        return
    with session_scope(write=True) as session:
        evaluation_ids = list(session.scalars(select(Evaluation.id).where(
            Evaluation.dataset_id == dataset_id)))
        session.execute(delete(Prediction).where(Prediction.evaluation_id.in_(evaluation_ids)))
        session.execute(delete(Evaluation).where(Evaluation.id.in_(evaluation_ids)))
        session.execute(delete(Dataset).where(Dataset.id == dataset_id))


def _report_latencies(results: list[tuple], writer: Writer) -> list[float]:
    """Print the load's latencies; return those of requests overlapping a write."""
    during = [latency for start, latency, *_ in results
              if writer.writing_at(start) or writer.writing_at(start + latency)]
    all_latencies = [latency for _, latency, *_ in results]
    span = max(s + lat for s, lat, *_ in results) - min(s for s, *_ in results)
    in_transaction = sum(w["end"] - w["begin"] for w in writer.writes)
    print(f"\n{REQUESTS} callback requests, {CLIENTS} clients, {span:.1f} s "
          f"({REQUESTS / span:.0f} req/s); writer: {len(writer.writes)} evaluations x "
          f"{BULK_IMAGES:,} predictions, {in_transaction:.1f} s inside write transactions")
    print(f"latency, all requests: p50 {_percentile(all_latencies, 0.5) * 1000:.0f} ms, "
          f"p95 {_percentile(all_latencies, 0.95) * 1000:.0f} ms")
    print(f"latency, {len(during)} requests overlapping a write transaction: "
          f"p50 {_percentile(during, 0.5) * 1000:.0f} ms, "
          f"p95 {_percentile(during, 0.95) * 1000:.0f} ms")
    return during


def test_callbacks_during_a_large_evaluation_write(served: Served, trained_home: dict,
                                                   tmp_path: Path) -> None:
    reader_run, writer_run = trained_home["run_ids"]
    deps = served.session.get(served.url + "/_dash-dependencies", timeout=30).json()
    bodies = _request_bodies(deps, reader_run)
    local = threading.local()

    def call(body: dict) -> tuple[float, float, int, str]:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            session.cookies.update(served.session.cookies)  # signed in as the test admin
        start = time.time()
        response = session.post(served.url + "/_dash-update-component", json=body, timeout=120)
        return start, time.time() - start, response.status_code, response.text

    with ThreadPoolExecutor(CLIENTS) as pool:  # warm both workers' caches and imports
        list(pool.map(call, bodies[:2 * CLIENTS]))

    writer = Writer(writer_run, tmp_path)
    try:
        assert writer.first_write.wait(timeout=120), "".join(writer.lines)[-3000:]
        with ThreadPoolExecutor(CLIENTS) as pool:
            results = list(pool.map(call, bodies))
        writer_output = writer.stop()
    finally:
        if writer.process.poll() is None:
            writer.process.kill()
        dataset_id = writer.dataset_id

    try:
        assert writer.process.returncode == 0, writer_output[-3000:]
        failures = [(status, text[:300]) for _, _, status, text in results if status != 200]
        assert failures == [], failures[:5]
        assert not any("database is locked" in text.lower() for *_, text in results)
        assert not any("shell-error-alert" in text for *_, text in results)  # no callback error
        log = served.log()
        assert "database is locked" not in log.lower() and "Traceback" not in log, log[-3000:]
        assert "database is locked" not in writer_output.lower()
        assert len(writer.writes) >= 1
        with session_scope() as session:  # every evaluation the writer finished is complete
            written = session.execute(
                select(Evaluation.id, Evaluation.status, func.count(Prediction.id))
                .outerjoin(Prediction, Prediction.evaluation_id == Evaluation.id)
                .where(Evaluation.dataset_id == dataset_id).group_by(Evaluation.id)).all()
        finished = {w["evaluation_id"] for w in writer.writes}
        assert {row[0] for row in written if row[1] == "completed"} == finished
        assert all(row[2] == BULK_IMAGES for row in written if row[0] in finished)

        during = _report_latencies(results, writer)
        assert len(during) >= REQUESTS // 10, "the load and the write hardly overlapped"
    finally:
        _remove_bulk_rows(dataset_id)
