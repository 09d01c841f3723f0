"""Shared bench helpers: data location, machine facts, timing."""

from __future__ import annotations

import argparse
import os
import platform
import random
import time
from pathlib import Path

import torch

from engine import settings

REPO = Path(__file__).resolve().parent.parent


def model_bench_parser(doc: str) -> argparse.ArgumentParser:
    """The options of a bench that times one model over real images (its docstring's title)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=64)
    return parser


def data_root() -> Path:
    root = Path(settings.CXR_DATA.get() or REPO.parent / "shared" / "data" / "chest_xray")
    return root / "train" if (root / "train").is_dir() else root


def sample_files(n: int, seed: int = 0) -> list[tuple[Path, int]]:
    """n real training files, balanced-ish by shuffling both classes together."""
    files = [(p, label) for label, name in enumerate(("NORMAL", "PNEUMONIA"))
             for p in sorted((data_root() / name).iterdir())]
    random.Random(seed).shuffle(files)
    return files[:n]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}; {os.cpu_count()} cores; torch {torch.__version__}; "
            f"threads {torch.get_num_threads()}")


def real_store(n_images: int, size: int) -> torch.Tensor:
    """n real training images decoded into an (N, size, size) uint8 tensor (no cache)."""
    from engine.data.pixels import load_store

    store, _ = load_store([str(path) for path, _ in sample_files(n_images)], size, cache=False)
    return torch.from_numpy(store)


def seeded_model(arch: str) -> torch.nn.Module:
    from engine.models import create_model

    torch.manual_seed(0)
    return create_model(arch).eval()


class Timer:
    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start
