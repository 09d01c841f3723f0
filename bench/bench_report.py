"""Size and build time of `cxr report` for a run evaluated on 624 test images (the Kaggle test
set's size: 234 NORMAL, 390 PNEUMONIA), against its floor measured in the same run: plotly.js,
which every offline report inlines.

    python bench/bench_report.py [--normal 234 --pneumonia 390 --train-per-class 24]

Copies real images from CXR_DATA's train split into a temporary train/ and test/ folder (test
images disjoint from train), trains the tiny CNN at 64 px for one epoch in a temporary CXR_HOME,
then writes the report of that run. Nothing is left behind.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import REPO, data_root, machine  # noqa: E402


def make_folder(root: Path, normal: int, pneumonia: int, train_per_class: int) -> None:
    rng = random.Random(0)
    for name, n_test in (("NORMAL", normal), ("PNEUMONIA", pneumonia)):
        files = sorted((data_root() / name).iterdir())
        rng.shuffle(files)
        if len(files) < n_test + train_per_class:
            raise SystemExit(f"{data_root() / name} holds {len(files)} images; need "
                             f"{n_test + train_per_class}")
        for subset, chosen in (("train", files[:train_per_class]),
                               ("test", files[train_per_class:train_per_class + n_test])):
            (root / subset / name).mkdir(parents=True)
            for path in chosen:
                shutil.copy2(path, root / subset / name / path.name)


def cxr(home: Path, *args: str) -> float:
    """Run `cxr ARGS` in the store at `home`; its wall seconds."""
    environment = {**os.environ, "CXR_HOME": str(home), "CXR_NO_PROGRESS": "1",
                   "PYTHONPATH": str(REPO)}  # this checkout's code, wherever it is installed
    environment.pop("CXR_DATABASE_URL", None)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "engine.cli", *args], check=True, env=environment,
                   cwd=REPO, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--normal", type=int, default=234)
    parser.add_argument("--pneumonia", type=int, default=390)
    parser.add_argument("--train-per-class", type=int, default=24)
    parser.add_argument("--errors", type=int, default=6, help="cxr report --errors")
    args = parser.parse_args()
    from plotly.offline import get_plotlyjs

    work = Path(tempfile.mkdtemp(prefix="cxr-bench-report-"))
    try:
        make_folder(work / "data", args.normal, args.pneumonia, args.train_per_class)
        train_s = cxr(work / "home", "train", "--arch", "small_cnn", "--data",
                      str(work / "data"), "--epochs", "1", "--image-size", "64")
        report = work / "report.html"
        build_s = cxr(work / "home", "report", "1", "-o", str(report), "--errors",
                      str(args.errors))
        page = report.read_text()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    evaluated = re.search(r"<td>Evaluated</td><td>test of [^:]*: (\d+) images", page)
    if evaluated is None or int(evaluated.group(1)) != args.normal + args.pneumonia:
        raise SystemExit("the report's test evaluation does not hold every test image")
    size = len(page.encode())
    floor = len(get_plotlyjs().encode())
    images = re.findall(r"data:image/jpeg;base64,([A-Za-z0-9+/=]+)", page)
    image_bytes = sum(len(item) for item in images)
    decoded = sum(len(base64.b64decode(item)) for item in images)
    mib = 2**20
    print(f"machine: {machine()}")
    print(f"report of 1 run evaluated on {evaluated.group(1)} test images "
          f"({args.normal} NORMAL, {args.pneumonia} PNEUMONIA), --errors {args.errors}: "
          f"{size / mib:.2f} MiB ({size:,} bytes), written in {build_s:.1f} s "
          f"(training took {train_s:.0f} s)")
    print(f"  plotly.js inlined (the floor): {floor / mib:.2f} MiB, {floor / size:.0%} of the "
          f"file; the report is {size / floor:.2f}x its floor")
    print(f"  {len(images)} embedded JPEG thumbnails: {image_bytes / mib:.2f} MiB as base64 "
          f"({decoded / 1024:.0f} KiB decoded, {decoded / max(len(images), 1) / 1024:.1f} KiB "
          "each)")
    print(f"  everything else (figures' data, tables, style): "
          f"{(size - floor - image_bytes) / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
