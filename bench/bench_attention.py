"""Cost of the per-prediction attention metrics against the evaluation pass they ride on, and ROAD.

    python bench/bench_attention.py [--arch resnet18] [--size 128] [--images 1000]

Baseline: the batched evaluation pass (probability + Grad-CAM + overlay files). Measured: the
same pass plus lung mask, border share, lung share and peak-in-lung for every image. Goal: the
metrics add at most 20%. ROAD (pytorch-grad-cam's ROADCombined, 4 percentiles) is timed per
image on a small sample: it is the optional sampled pass (`cxr road`).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import torch
from pytorch_grad_cam.metrics.road import ROADCombined
from pytorch_grad_cam.utils.model_targets import BinaryClassifierOutputTarget

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import Timer, machine, model_bench_parser, real_store, seeded_model  # noqa: E402
from engine.data.pixels import to_input  # noqa: E402
from engine.explain.attention import attention_metrics  # noqa: E402
from engine.explain.gradcam import CamExplainer, CamWriter  # noqa: E402
from engine.explain.road import ROAD_PERCENTILES  # noqa: E402


def evaluation_pass(explainer: CamExplainer, store: torch.Tensor, batch: int,
                    with_metrics: bool) -> float:
    with tempfile.TemporaryDirectory() as folder, Timer() as timer:
        writer = CamWriter()
        for start in range(0, len(store), batch):
            chunk = store[start:start + batch].numpy()
            _, cams = explainer.explain(chunk)
            for offset, (gray, cam) in enumerate(zip(chunk, cams, strict=True)):
                writer.submit(gray, cam, Path(folder) / f"{start + offset}.png")
                if with_metrics:
                    attention_metrics(gray, cam)
        writer.wait()
    return timer.seconds


def main() -> None:
    parser = model_bench_parser(__doc__)
    parser.add_argument("--road-sample", type=int, default=8)
    args = parser.parse_args()
    store = real_store(args.images, args.size)
    model = seeded_model(args.arch)
    print(f"machine: {machine()}")
    print(f"{args.arch} at {args.size}px, {len(store)} real images, batch {args.batch}")
    with CamExplainer(model, args.arch) as explainer:
        explainer.explain(store[: args.batch].numpy())  # warm-up
        base = evaluation_pass(explainer, store, args.batch, with_metrics=False)
        with_metrics = evaluation_pass(explainer, store, args.batch, with_metrics=True)
        sample = store[: args.road_sample].numpy()
        probabilities, cams = explainer.explain(sample)
    targets = [BinaryClassifierOutputTarget(int(p >= 0.5)) for p in probabilities]
    with Timer() as road, torch.no_grad():
        ROADCombined(percentiles=list(ROAD_PERCENTILES))(to_input(sample), cams, targets, model)
    print(f"  evaluation pass (Grad-CAM + files):      {base:6.2f}s")
    print(f"  ... plus attention metrics and lung masks:     {with_metrics:6.2f}s")
    print(f"  ratio with metrics / without: {with_metrics / base:.3f}x (goal <= 1.20x)")
    print(f"  ROAD combined: {road.seconds / len(sample):.2f}s per image "
          f"(default sample of 100 images: ~{100 * road.seconds / len(sample) / 60:.1f} min); "
          f"ratio to the evaluation pass per image: "
          f"{(road.seconds / len(sample)) / (base / len(store)):.0f}x")


if __name__ == "__main__":
    main()
