"""Evaluation with Grad-CAM vs plain inference, and vs per-image Grad-CAM, on real images.

    python bench/bench_gradcam.py [--arch resnet18] [--size 128] [--images 1000] [--batch 64]

Ours: engine/explain/gradcam.py CamExplainer (probabilities and CAMs from one batched pass; frozen
parameters so the backward pass stops at the target layer), plus writing the overlay PNG and raw
CAM per image (engine CamWriter). Baselines, same model and images: plain batched inference under
no_grad; pytorch-grad-cam used the textbook way, one image at a time.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import torch
from pytorch_grad_cam import GradCAM

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import Timer, machine, model_bench_parser, real_store, seeded_model  # noqa: E402
from engine.data.pixels import to_input  # noqa: E402
from engine.explain.gradcam import CamExplainer, CamWriter, PredictedClassTarget  # noqa: E402
from engine.inference.predictor import predict  # noqa: E402
from engine.models import cam_target_layer, create_model  # noqa: E402


def main() -> None:
    parser = model_bench_parser(__doc__)
    parser.add_argument("--per-image-sample", type=int, default=200,
                        help="images timed for the per-image baseline (extrapolated)")
    args = parser.parse_args()
    store = real_store(args.images, args.size)
    model = seeded_model(args.arch)
    print(f"machine: {machine()}")
    print(f"{args.arch} at {args.size}px, {len(store)} real images, batch {args.batch}")

    predict(model, store[: args.batch], torch.device("cpu"))  # warm-up
    with Timer() as plain:
        predict(model, store, torch.device("cpu"), args.batch)

    reference = create_model(args.arch).eval()
    reference.load_state_dict(model.state_dict())
    sample = store[: args.per_image_sample]
    with GradCAM(model=reference, target_layers=[cam_target_layer(reference, args.arch)]) as cam:
        cam(input_tensor=to_input(sample[:1]), targets=[PredictedClassTarget(0.0)])
        with Timer() as per_image:
            for index in range(len(sample)):
                cam(input_tensor=to_input(sample[index:index + 1]),
                    targets=[PredictedClassTarget(0.0)])
    per_image_seconds = per_image.seconds * len(store) / len(sample)

    with CamExplainer(model, args.arch) as explainer:
        explainer.explain(store[: args.batch])  # warm-up
        with Timer() as batched:
            for start in range(0, len(store), args.batch):
                explainer.explain(store[start:start + args.batch])
        with tempfile.TemporaryDirectory() as folder, Timer() as with_files:
            writer = CamWriter()
            for start in range(0, len(store), args.batch):
                batch = store[start:start + args.batch]
                _, cams = explainer.explain(batch)
                for offset, (gray, cam_map) in enumerate(zip(batch.numpy(), cams, strict=True)):
                    writer.submit(gray, cam_map, Path(folder) / f"{start + offset}.png")
            writer.wait()

    n = len(store)
    print(f"  plain inference (no_grad, batched):   {plain.seconds:6.2f}s  "
          f"{n / plain.seconds:6.1f} img/s")
    print(f"  per-image Grad-CAM (library default): {per_image_seconds:6.2f}s  "
          f"{n / per_image_seconds:6.1f} img/s  (timed on {len(sample)}, extrapolated)")
    print(f"  cxr batched Grad-CAM (+probability):  {batched.seconds:6.2f}s  "
          f"{n / batched.seconds:6.1f} img/s")
    print(f"  cxr batched Grad-CAM + overlay files: {with_files.seconds:6.2f}s  "
          f"{n / with_files.seconds:6.1f} img/s")
    print(f"  ratio Grad-CAM / plain inference: {batched.seconds / plain.seconds:.2f}x "
          f"(with files {with_files.seconds / plain.seconds:.2f}x; target <= 2x)")
    print(f"  speed-up over per-image Grad-CAM: {per_image_seconds / batched.seconds:.1f}x")


if __name__ == "__main__":
    main()
