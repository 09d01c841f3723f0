"""Live scoring: upload-callback latency with 3 runs + Grad-CAM, and `cxr score` throughput.

    python bench/bench_scoring.py [--arch resnet18] [--size 224] [--requests 30] [--files 64]

Trains three runs (seeds 0, 1, 2; one epoch on a small real subset: only the speed of the
models matters here) in a temporary CXR_HOME, then:
1. serves the dashboard on localhost and POSTs the Score page's upload callback
   (/_dash-update-component) with one 224 px real JPEG at a time, each a different image, scored
   by all 3 runs with Grad-CAM, overlays written and rows stored; p50/p95 from POST to response;
2. times `cxr score FILE... --run ID` over real images (one run) as a user runs it (a fresh
   process, model load included) and warm in-process, against plain batched inference of the
   same model (decode + resize + no_grad forward).
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import REPO, Timer, machine, sample_files  # noqa: E402


def _subset(folder: Path, per_class: int) -> Path:
    for path, label in sample_files(10_000, seed=1):
        target = folder / ("NORMAL", "PNEUMONIA")[label]
        target.mkdir(parents=True, exist_ok=True)
        if len(list(target.iterdir())) < per_class:
            shutil.copy2(path, target / path.name)
    return folder


def _jpeg_224(path: Path) -> bytes:
    buffer = io.BytesIO()
    with Image.open(path) as image:
        image.convert("L").resize((224, 224)).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def bench_latency(run_ids: list[int], n_requests: int) -> None:
    from tests.score_server import data_url, live_dashboard, post_upload

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no per-request log lines
    images = [_jpeg_224(path) for path, _ in sample_files(n_requests + 3, seed=7)]
    latencies = []
    with live_dashboard() as url:
        for index, data in enumerate(images):
            start = time.perf_counter()
            response = post_upload(url, [data_url(data, "image/jpeg")], [f"bench-{index}.jpeg"],
                                   run_ids)
            elapsed = time.perf_counter() - start
            assert response.status_code == 200, response.text[:300]
            assert response.text.count("score-probability") == len(run_ids)
            if index >= 3:  # the first requests load the models: warm-up
                latencies.append(elapsed)
    p50, p95 = np.percentile(latencies, [50, 95])
    print(f"  upload callback, 1 image x {len(run_ids)} runs + Grad-CAM: p50 {p50 * 1000:.0f} ms, "
          f"p95 {p95 * 1000:.0f} ms over {len(latencies)} requests "
          f"(goal p50 <= 300 ms: {'met' if p50 <= 0.3 else 'NOT met'})")


def bench_throughput(run_id: int, n_files: int) -> None:
    from db.runs import get_run
    from engine.cli.score import score_files
    from engine.data.pixels import load_store
    from engine.inference.predictor import load_run_model, predict
    from engine.training.devices import resolve_device

    files = [str(path) for path, _ in sample_files(n_files, seed=11)]
    run = get_run(run_id)
    size = int(run.config["image_size"])
    device = resolve_device(None)  # where `cxr score` below runs too (auto, or $CXR_DEVICE)
    model = load_run_model(run, device)
    predict(model, torch.from_numpy(load_store(files[:8], size, cache=False)[0]),
            device, 32)  # warm-up
    with Timer() as plain:
        store, _ = load_store(files, size, cache=False)
        predict(model, torch.from_numpy(store), device, 32)
    with Timer() as forward:
        predict(model, torch.from_numpy(store), device, 32)

    command = [sys.executable, "-m", "engine.cli", "score", *files, "--run", str(run_id),
               "--json"]
    with Timer() as cold:
        subprocess.run(command, check=True, capture_output=True, cwd=REPO)
    devnull = open(os.devnull, "w")  # noqa: SIM115
    saved, sys.stdout = sys.stdout, devnull
    try:
        score_files(files[:8], [run_id], as_json=True)  # warm the model cache
        with Timer() as warm:
            score_files(files, [run_id], as_json=True)
    finally:
        sys.stdout = saved
        devnull.close()

    n = len(files)

    def rate(seconds: float) -> float:
        return n / seconds

    print(f"  plain batched inference (decode + resize + no_grad): {rate(plain.seconds):7.1f} img/s"
          f"  (forward only {rate(forward.seconds):.1f} img/s)")
    print(f"  cxr score, fresh process (CLI as run):  {rate(cold.seconds):7.1f} img/s  "
          f"ratio to plain {cold.seconds / plain.seconds:.2f}x time")
    print(f"  cxr score, warm in-process:             {rate(warm.seconds):7.1f} img/s  "
          f"ratio to plain {warm.seconds / plain.seconds:.2f}x time")
    print("  (cxr score also computes Grad-CAM, writes an overlay PNG per image, stores the "
          "file and the rows)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--train-per-class", type=int, default=24)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--files", type=int, default=64)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="cxr-bench-scoring-") as folder:
        os.environ["CXR_HOME"] = str(Path(folder) / "home")
        os.environ.pop("CXR_DATABASE_URL", None)
        os.environ.setdefault("CXR_NO_PROGRESS", "1")
        from db.migrate import init_db
        from engine.training.train import TrainConfig
        from engine.training.train import main as train

        init_db()
        data = _subset(Path(folder) / "data", args.train_per_class)
        print(f"training 3 x {args.arch} at {args.size}px (1 epoch, speed only) ...", flush=True)
        run_ids = [train(TrainConfig(arch=args.arch, data=str(data), epochs=1,
                                     image_size=args.size, batch_size=16, seed=seed,
                                     name=f"bench-{args.arch}-{seed}"))
                   for seed in (0, 1, 2)]
        print(f"{args.arch} at {args.size}px, runs {run_ids}")
        bench_latency(run_ids, args.requests)
        bench_throughput(run_ids[0], args.files)


if __name__ == "__main__":
    main()
