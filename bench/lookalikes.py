"""Look-alikes: the time of one query (8 nearest training images), at 5,840 and 100,000
training images, and what building a run's look-alike index costs.

    python bench/lookalikes.py [--sizes 5840 100000] [--dims 512] [--queries 200]
                               [--arch resnet18] [--size 224] [--images 128]

1. Per query: engine.inference.lookalikes.Index.nearest (exact search: float16 features held as
   float32, one matrix-vector product and a partial sort) on synthetic features, p50 and p95 over
   `--queries` queries; the baseline in the same run is scikit-learn's exact
   NearestNeighbors(algorithm="brute") on the same features, one query per call. Goal: <= 100 ms
   at 5,840.
2. The index: its size in memory and on disk (float16), per training image.
3. Building it: the features-only pass (no Grad-CAM) over `--images` real training images with a
   seeded `--arch` at `--size` px, against evaluation's Grad-CAM pass over the same images, in
   the same run; with the images per second, the cost for a 4,173-image train split (the
   5,216-image training folder less its val share).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import machine, real_store, seeded_model  # noqa: E402
from bench.map_speed import synthetic_features  # noqa: E402

TRAIN_SPLIT_IMAGES = 4173


def per_query(n: int, dims: int, queries: int) -> dict:
    from sklearn.neighbors import NearestNeighbors

    from engine.evaluation.feature_map import FeatureFile
    from engine.inference.lookalikes import Index

    features = synthetic_features(n, dims)
    index = Index(FeatureFile(np.arange(n), features, np.zeros(n, np.float32),
                              np.zeros(n, np.int8)))
    asked = synthetic_features(queries, dims, seed=7).astype(np.float32)
    ours, library = [], []
    search = NearestNeighbors(n_neighbors=8, algorithm="brute").fit(index.features)
    agree = 0
    for query in asked:
        start = time.perf_counter()
        found = index.nearest(query, 8)
        ours.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        _, rows = search.kneighbors(query[None])
        library.append((time.perf_counter() - start) * 1000)
        agree += [row for row, _ in found] == rows[0].tolist()
    return {"ours": ours, "library": library, "agree": agree,
            "memory_mb": index.features.nbytes / 2**20, "disk_mb": features.nbytes / 2**20}


def build_cost(arch: str, size: int, images: int) -> tuple[float, float]:
    """(seconds per image: features-only pass, Grad-CAM pass) on the same real images."""
    import torch

    from engine.evaluation.typicality import FeatureTap
    from engine.explain.gradcam import CamExplainer
    from engine.inference.predictor import predict_logits

    store = real_store(images, size)
    model = seeded_model(arch)
    device = torch.device("cpu")
    tap = FeatureTap(model, arch)
    start = time.perf_counter()
    for offset in range(0, images, 32):
        predict_logits(model, store[offset:offset + 32], device, 32)
    features_only = (time.perf_counter() - start) / images
    tap.close()
    explainer = CamExplainer(model, arch)
    start = time.perf_counter()
    for offset in range(0, images, 32):
        explainer.explain(store[offset:offset + 32])
    with_cam = (time.perf_counter() - start) / images
    explainer.close()
    return features_only, with_cam


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5840, 100_000])
    parser.add_argument("--dims", type=int, default=512, help="feature width (resnet18: 512)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--images", type=int, default=128)
    args = parser.parse_args()
    print(machine())
    for n in args.sizes:
        found = per_query(n, args.dims, args.queries)
        ours, library = np.median(found["ours"]), np.median(found["library"])
        print(f"{n:>7} training images x {args.dims}: one query p50 {ours:.2f} ms, "
              f"p95 {np.percentile(found['ours'], 95):.2f} ms (goal <= 100 ms at 5,840); "
              f"scikit-learn brute force p50 {library:.2f} ms ({library / ours:.1f}x ours); "
              f"same 8 in {found['agree']}/{args.queries}; index {found['memory_mb']:.0f} MB in "
              f"memory, {found['disk_mb']:.0f} MB on disk")
    features_only, with_cam = build_cost(args.arch, args.size, args.images)
    print(f"index build, {args.arch} {args.size} px, {args.images} real images: features-only "
          f"{features_only * 1000:.1f} ms/image, Grad-CAM pass {with_cam * 1000:.1f} ms/image "
          f"({features_only / with_cam:.2f}x); a {TRAIN_SPLIT_IMAGES:,}-image train split "
          f"{features_only * TRAIN_SPLIT_IMAGES:.0f} s, once per run")


if __name__ == "__main__":
    main()
