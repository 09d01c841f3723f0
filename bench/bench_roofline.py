"""Roofline: achieved FLOP/s of a resnet18 training step at 128 px against this CPU's
measured matmul peak (torch.mm on large square matrices, fp32 and bf16).

    python bench/bench_roofline.py [--arch resnet18] [--size 128] [--batch 32]

FLOPs come from torch.utils.flop_counter (forward + backward of one step, 1-channel stem).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import Timer, machine  # noqa: E402
from engine.models import create_model  # noqa: E402


def matmul_peak(dtype: torch.dtype, n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        with Timer() as timer:
            torch.mm(a, b)
        best = min(best, timer.seconds)
    return 2 * n**3 / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    model = create_model(args.arch).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    inputs = torch.randn(args.batch, 1, args.size, args.size)
    targets = torch.randint(0, 2, (args.batch,)).float()
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def step() -> None:
        loss = loss_fn(model(inputs)[:, 0], targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    step()
    with Timer() as timer:
        for _ in range(args.steps):
            step()
    achieved = flops * args.steps / timer.seconds
    peak32, peak16 = matmul_peak(torch.float32), matmul_peak(torch.bfloat16)
    print(f"machine: {machine()}")
    print(f"{args.arch} training step at {args.size}px, batch {args.batch}: "
          f"{flops / 1e9:.1f} GFLOP per step, {timer.seconds / args.steps * 1000:.0f} ms per step")
    rate = args.batch * args.steps / timer.seconds
    print(f"  achieved: {achieved / 1e9:7.1f} GFLOP/s ({rate:.1f} img/s)")
    print(f"  matmul peak fp32: {peak32 / 1e9:7.1f} GFLOP/s -> fraction of peak "
          f"{achieved / peak32:.2f}")
    print(f"  matmul peak bf16: {peak16 / 1e9:7.1f} GFLOP/s -> fraction of bf16 peak "
          f"{achieved / peak16:.2f}")


if __name__ == "__main__":
    main()
