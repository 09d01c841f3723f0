"""Training throughput: our engine against a plain PyTorch loop and fastai, same arch, size,
batch and data; then each speed lever of the engine as a ratio to the engine's default.

The plain loop is what a typical project writes: an ImageFolder-style Dataset that decodes each
file every epoch, torchvision transforms (grayscale->3 channels, resize, small affine, colour
jitter, normalise), a DataLoader, a stock 3-channel torchvision model and Adam. fastai is the
seed project's stack: vision_learner(pretrained=False) + fit_one_cycle (the `bench` extra).
Ours: decode once into a uint8 store, batched tensor augmentation, 1-channel stem
(engine/train.py). Each figure is one epoch after a warm-up epoch.

    python bench/bench_train.py [--configs resnet18:128 resnet34:224] [--images 640]
                                [--batch 32] [--workers 2] [--lever-images 320] [--no-levers]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import models as tv_models
from torchvision import transforms

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import Timer, machine, sample_files  # noqa: E402
from engine.models import create_model  # noqa: E402
from engine.pixels import load_store  # noqa: E402
from engine.train import TrainConfig, make_scheduler, train_one_epoch  # noqa: E402


class FileDataset(Dataset):
    def __init__(self, files: list[tuple[Path, int]], size: int) -> None:
        self.files = files
        self.transform = transforms.Compose([
            transforms.Grayscale(num_output_channels=3),
            transforms.Resize((size, size)),
            transforms.RandomAffine(degrees=7, translate=(0.06, 0.06), scale=(0.92, 1.08)),
            transforms.ColorJitter(brightness=0.15, contrast=0.15),
            transforms.ToTensor(),
            transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        ])

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int):  # noqa: ANN204
        path, label = self.files[index]
        with Image.open(path) as image:
            return self.transform(image), torch.tensor(float(label))


def plain_loop_rate(arch: str, files, size: int, batch: int, workers: int) -> float:
    builder = {"resnet18": tv_models.resnet18, "resnet34": tv_models.resnet34,
               "efficientnet_b0": tv_models.efficientnet_b0}[arch]
    model = builder(weights=None, num_classes=1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = nn.BCEWithLogitsLoss()
    loader = DataLoader(FileDataset(files, size), batch_size=batch, shuffle=True,
                        num_workers=workers, drop_last=True, persistent_workers=workers > 0)

    def epoch() -> int:
        seen = 0
        model.train()
        for inputs, labels in loader:
            loss = loss_fn(model(inputs)[:, 0], labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            seen += len(labels)
        return seen

    epoch()  # warm-up
    with Timer() as timer:
        seen = epoch()
    return seen / timer.seconds


def fastai_rate(arch: str, files, size: int, batch: int, workers: int) -> float | None:
    """The seed project's stack: vision_learner(pretrained=False) + fit_one_cycle."""
    try:
        from fastai.vision.all import (
            CategoryBlock,
            DataBlock,
            ImageBlock,
            IndexSplitter,
            Resize,
            aug_transforms,
            vision_learner,
        )
    except ImportError:
        return None
    architecture = {"resnet18": tv_models.resnet18, "resnet34": tv_models.resnet34,
                    "efficientnet_b0": tv_models.efficientnet_b0}[arch]
    labels = {str(path): ("PNEUMONIA" if label else "NORMAL") for path, label in files}
    valid = list(range(len(files) - batch, len(files)))  # a token validation set
    block = DataBlock(blocks=(ImageBlock, CategoryBlock), get_items=lambda _: list(labels),
                      get_y=lambda path: labels[str(path)], splitter=IndexSplitter(valid),
                      item_tfms=Resize(size),
                      batch_tfms=aug_transforms(do_flip=False, max_rotate=7.0))
    loaders = block.dataloaders(None, bs=batch, num_workers=workers)
    learner = vision_learner(loaders, architecture, pretrained=False)
    with learner.no_bar(), learner.no_logging():
        learner.fit_one_cycle(1)  # warm-up
        with Timer() as timer:
            learner.fit_one_cycle(1)
    return (len(files) - batch) / timer.seconds


def decoded(files, size: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """The engine's one-off decode into a uint8 store (not cached here), and its seconds."""
    with Timer() as decode:
        store, _ = load_store([str(p) for p, _ in files], size, cache=False)
    labels = torch.tensor([float(label) for _, label in files])
    return torch.from_numpy(store), labels, decode.seconds


def engine_rate(arch: str, store: torch.Tensor, labels: torch.Tensor, batch: int,
                threads: int | None = None, **levers) -> float:
    """Images/s of engine.train.train_one_epoch, as `cxr train` runs it, with `levers`
    (TrainConfig's channels_last / precision / compile) and torch's thread count."""
    config = TrainConfig(arch=arch, image_size=store.shape[-1], batch_size=batch, epochs=2,
                         **levers)
    saved_threads = torch.get_num_threads()
    torch.set_num_threads(threads or saved_threads)
    try:
        torch.manual_seed(0)
        model = create_model(arch)
        if config.channels_last:
            model = model.to(memory_format=torch.channels_last)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
        scheduler = make_scheduler(config, optimizer, len(store) // batch)
        trained = torch.compile(model) if config.compile else model
        generator = torch.Generator().manual_seed(0)
        args = (trained, store, labels, optimizer, scheduler, nn.BCEWithLogitsLoss(), config,
                generator, torch.device("cpu"))
        train_one_epoch(*args, 0)  # warm-up (and, with compile, the compilation)
        _, rate = train_one_epoch(*args, 1)
    finally:
        torch.set_num_threads(saved_threads)
    return rate


LEVERS = (
    ("default (fp32, NCHW, eager)", {}),
    ("channels_last", {"channels_last": True}),
    ("bf16 autocast", {"precision": "bf16"}),
    ("bf16 autocast + channels_last", {"precision": "bf16", "channels_last": True}),
    ("torch.compile", {"compile": True}),
    ("1 thread (of 2)", {"threads": 1}),
)


def compare(arch: str, size: int, args: argparse.Namespace) -> None:
    files = sample_files(args.images)
    print(f"\n{arch} at {size}px, batch {args.batch}, {len(files)} real images:", flush=True)
    store, labels, decode_seconds = decoded(files, size)
    ours = engine_rate(arch, store, labels, args.batch)
    plain = plain_loop_rate(arch, files, size, args.batch, args.workers)
    fastai = fastai_rate(arch, files, size, args.batch, args.workers)
    print(f"  plain PyTorch loop ({args.workers} loader workers): {plain:7.1f} img/s")
    if fastai is None:
        print("  fastai: not installed (pip install -e '.[bench]')")
    else:
        print(f"  fastai vision_learner + fit_one_cycle:  {fastai:7.1f} img/s")
    print(f"  cxr engine:                            {ours:7.1f} img/s "
          f"(one-off decode into the store: {decode_seconds:.1f}s)")
    print(f"  ratio engine / plain loop: {ours / plain:.2f}x (goal 1.3x)")
    if fastai is not None:
        print(f"  ratio engine / fastai:     {ours / fastai:.2f}x (goal 1.5x)", flush=True)


def levers(arch: str, size: int, args: argparse.Namespace) -> None:
    """Each lever alone (and bf16 with channels_last), against the default in the same run;
    then the plain loop's loader workers, the lever that is the loop's own."""
    files = sample_files(args.lever_images)
    store, labels, _ = decoded(files, size)
    print(f"\nspeed levers, {arch} at {size}px, batch {args.batch}, {len(files)} images "
          f"(ratio to the engine's default, same run):", flush=True)
    base = None
    for name, settings in LEVERS:
        with Timer() as timer:
            rate = engine_rate(arch, store, labels, args.batch, **settings)
        base = base or rate
        print(f"  {name:<32} {rate:7.1f} img/s  {rate / base:5.2f}x  "
              f"(with warm-up {timer.seconds:.0f}s)", flush=True)
    rates = {workers: plain_loop_rate(arch, files, size, args.batch, workers)
             for workers in (0, 1, 2)}
    for workers, rate in rates.items():
        print(f"  plain loop, {workers} loader workers    {rate:7.1f} img/s  "
              f"{rate / rates[0]:5.2f}x of 0 workers", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["resnet18:128", "resnet34:224"],
                        help="ARCH:SIZE pairs")
    parser.add_argument("--images", type=int, default=640)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--lever-images", type=int, default=320)
    parser.add_argument("--no-levers", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("CXR_NO_PROGRESS", "1")  # no progress bars between the figures
    print(f"machine: {machine()}")
    print("training throughput, one epoch after a warm-up epoch")
    for pair in args.configs:
        arch, size = pair.split(":")
        compare(arch, int(size), args)
    if not args.no_levers:
        arch, size = args.configs[0].split(":")
        levers(arch, int(size), args)


if __name__ == "__main__":
    main()
