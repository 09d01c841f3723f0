"""Training throughput: our engine against a plain PyTorch loop, same arch, size, batch, data.

The plain loop is what a typical project writes: an ImageFolder-style Dataset that decodes each
file every epoch, torchvision transforms (grayscale->3 channels, resize, small affine, colour
jitter, normalise), a DataLoader, a stock 3-channel torchvision model and Adam. Ours: decode once
into a uint8 store, batched tensor augmentation, 1-channel stem (engine/train.py).

    python bench/bench_train.py [--arch resnet18] [--size 128] [--images 640] [--batch 32]
"""

from __future__ import annotations

import argparse
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
    learner.fit_one_cycle(1)  # warm-up
    with Timer() as timer:
        learner.fit_one_cycle(1)
    return (len(files) - batch) / timer.seconds


def engine_rate(arch: str, files, size: int, batch: int) -> tuple[float, float]:
    config = TrainConfig(arch=arch, image_size=size, batch_size=batch, epochs=2)
    with Timer() as decode:
        store, _ = load_store([str(p) for p, _ in files], size, cache=False)
    store = torch.from_numpy(store)
    labels = torch.tensor([float(label) for _, label in files])
    model = create_model(arch)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    scheduler = make_scheduler(config, optimizer, len(files) // batch)
    generator = torch.Generator().manual_seed(0)
    loss_fn = nn.BCEWithLogitsLoss()
    device = torch.device("cpu")
    args = (model, store, labels, optimizer, scheduler, loss_fn, config, generator, device)
    train_one_epoch(*args, 0)  # warm-up
    _, rate = train_one_epoch(*args, 1)
    return rate, decode.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--images", type=int, default=640)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    files = sample_files(args.images)
    print(f"machine: {machine()}")
    print(f"training throughput, {args.arch} at {args.size}px, batch {args.batch}, "
          f"{len(files)} real images, one epoch after a warm-up epoch")
    ours, decode_seconds = engine_rate(args.arch, files, args.size, args.batch)
    plain = plain_loop_rate(args.arch, files, args.size, args.batch, args.workers)
    fastai = fastai_rate(args.arch, files, args.size, args.batch, args.workers)
    print(f"  plain PyTorch loop ({args.workers} loader workers): {plain:7.1f} img/s")
    if fastai is None:
        print("  fastai: not installed (pip install -e '.[bench]')")
    else:
        print(f"  fastai vision_learner + fit_one_cycle:  {fastai:7.1f} img/s")
    print(f"  cxr engine:                            {ours:7.1f} img/s "
          f"(one-off decode into the store: {decode_seconds:.1f}s)")
    print(f"  ratio engine / plain loop: {ours / plain:.2f}x")
    if fastai is not None:
        print(f"  ratio engine / fastai:     {ours / fastai:.2f}x")


if __name__ == "__main__":
    main()
