"""Training throughput: our engine against a plain PyTorch loop and fastai, same arch, size,
batch and data; then each speed lever of the engine as a ratio to the engine's default.

The plain loop is what a typical project writes: an ImageFolder-style Dataset that decodes each
file every epoch, torchvision transforms (grayscale->3 channels, resize, small affine, colour
jitter, normalise), a DataLoader, a stock 3-channel torchvision model and Adam. fastai is the
seed project's stack: vision_learner(pretrained=False) + fit_one_cycle (the `bench` extra).
Ours: decode once into a uint8 store, batched tensor augmentation, 1-channel stem
(engine/training/train.py). Each figure is one epoch after a warm-up epoch.

With `--device cuda` both loops train on the GPU (the plain loop's batches cross from its loader
workers; ours sit in a uint8 store on the GPU and are augmented there), and the bench then times
the best recipe end to end on every training image: 10 epochs, calibration, typicality and the
val and test evaluations with Grad-CAM, after a one-off decode into the pixel cache. `--quick`
rehearses every part with tiny settings (about two minutes on 2 CPU cores).

    python bench/bench_train.py [--device cpu|cuda] [--quick] [--configs resnet18:128 ...]
                                [--images 640] [--batch 32] [--workers 2] [--lever-images 320]
                                [--no-levers] [--recipe | --no-recipe] [--recipe-epochs 10]
                                [--recipe-per-class N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path
from unittest.mock import patch

import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import models as tv_models
from torchvision import transforms

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import Timer, data_root, machine, sample_files  # noqa: E402
from engine.data.pixels import load_store  # noqa: E402
from engine.models import create_model  # noqa: E402
from engine.training.devices import configure, resolve_device  # noqa: E402
from engine.training.loop import make_scheduler  # noqa: E402
from engine.training.train import TrainConfig, train_one_epoch  # noqa: E402

CPU = torch.device("cpu")


def synchronize(device: torch.device) -> None:
    """Wait for the GPU's queued work, so a timer measures it and not just its launch."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    return "CPU"


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


def plain_loop_rate(arch: str, files, size: int, batch: int, workers: int,
                    device: torch.device = CPU) -> float:
    builder = {"resnet18": tv_models.resnet18, "resnet34": tv_models.resnet34,
               "efficientnet_b0": tv_models.efficientnet_b0}[arch]
    configure(device, training=True)  # the same cuDNN settings as the engine gets
    model = builder(weights=None, num_classes=1).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = nn.BCEWithLogitsLoss()
    loader = DataLoader(FileDataset(files, size), batch_size=batch, shuffle=True,
                        num_workers=workers, drop_last=True, persistent_workers=workers > 0,
                        pin_memory=device.type == "cuda")

    def epoch() -> int:
        seen = 0
        model.train()
        for inputs, labels in loader:
            inputs = inputs.to(device, non_blocking=True)
            labels = labels.to(device, non_blocking=True)
            loss = loss_fn(model(inputs)[:, 0], labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            seen += len(labels)
        synchronize(device)
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
                threads: int | None = None, device: torch.device = CPU, **levers) -> float:
    """Images/s of engine.training.train.train_one_epoch, as `cxr train` runs it (store, model and
    fused Adam on `device`), with `levers` (TrainConfig's channels_last / precision / compile)
    and torch's thread count."""
    config = TrainConfig(arch=arch, image_size=store.shape[-1], batch_size=batch, epochs=2,
                         **levers)
    saved_threads = torch.get_num_threads()
    torch.set_num_threads(threads or saved_threads)
    try:
        configure(device, training=True)
        torch.manual_seed(0)
        model = create_model(arch).to(device)
        if config.channels_last:
            model = model.to(memory_format=torch.channels_last)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4,
                                     fused=device.type == "cuda")
        scheduler = make_scheduler(config, optimizer, len(store) // batch)
        trained = torch.compile(model) if config.compile else model
        generator = torch.Generator().manual_seed(0)
        args = (trained, store.to(device), labels.to(device), optimizer, scheduler,
                nn.BCEWithLogitsLoss(), config, generator, device)
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


def compare(arch: str, size: int, args: argparse.Namespace, device: torch.device) -> None:
    files = sample_files(args.images)
    print(f"\n{arch} at {size}px, batch {args.batch}, {len(files)} real images, on "
          f"{device_name(device)}:", flush=True)
    store, labels, decode_seconds = decoded(files, size)
    ours = engine_rate(arch, store, labels, args.batch, device=device)
    plain = plain_loop_rate(arch, files, size, args.batch, args.workers, device)
    # fastai is the CPU baseline; on a GPU the plain loop on the same GPU is the comparison.
    fastai = None if device.type == "cuda" else fastai_rate(arch, files, size, args.batch,
                                                             args.workers)
    print(f"  plain PyTorch loop ({args.workers} loader workers): {plain:7.1f} img/s")
    if device.type == "cuda":
        print("  fastai: not run on the GPU (the plain loop on the same GPU is the baseline)")
    elif fastai is None:
        print("  fastai: not installed (pip install -e '.[bench]')")
    else:
        print(f"  fastai vision_learner + fit_one_cycle:  {fastai:7.1f} img/s")
    print(f"  cxr engine:                            {ours:7.1f} img/s "
          f"(one-off decode into the store: {decode_seconds:.1f}s)")
    goal = "goal on one H100: 10,000 img/s at 128 px, 5x" if device.type == "cuda" else (
        "goal 1.3x")
    print(f"  ratio engine / plain loop: {ours / plain:.2f}x ({goal})")
    if fastai is not None:
        print(f"  ratio engine / fastai:     {ours / fastai:.2f}x (goal 1.5x)", flush=True)


def levers(arch: str, size: int, args: argparse.Namespace, device: torch.device) -> None:
    """Each lever alone (and bf16 with channels_last), against the default in the same run;
    then the plain loop's loader workers, the lever that is the loop's own."""
    files = sample_files(args.lever_images)
    store, labels, _ = decoded(files, size)
    print(f"\nspeed levers, {arch} at {size}px, batch {args.batch}, {len(files)} images on "
          f"{device_name(device)} (ratio to the engine's default, same run):", flush=True)
    base = None
    for name, settings in LEVERS:
        if "threads" in settings and device.type == "cuda":
            continue  # CPU threads are not a lever of GPU training
        with Timer() as timer:
            rate = engine_rate(arch, store, labels, args.batch, device=device, **settings)
        base = base or rate
        print(f"  {name:<32} {rate:7.1f} img/s  {rate / base:5.2f}x  "
              f"(with warm-up {timer.seconds:.0f}s)", flush=True)
    rates = {workers: plain_loop_rate(arch, files, size, args.batch, workers, device)
             for workers in (0, 1, 2)}
    for workers, rate in rates.items():
        print(f"  plain loop, {workers} loader workers    {rate:7.1f} img/s  "
              f"{rate / rates[0]:5.2f}x of 0 workers", flush=True)


def _copy_subset(destination: Path, per_class: int) -> Path:
    """`per_class` real training images of each class, copied (the recipe rehearsal's data)."""
    for name in ("NORMAL", "PNEUMONIA"):
        (destination / name).mkdir(parents=True)
        for path in sorted((data_root() / name).iterdir())[:per_class]:
            shutil.copy2(path, destination / name / path.name)
    return destination


def _recipe_report(run_id: int, wall_seconds: float, device: torch.device) -> None:
    from db.run_table import run_timing

    timing = run_timing(run_id)
    evaluations, train_seconds = timing.evaluations, timing.train_seconds
    rate = timing.images_per_second
    goal = " (goal on one H100: 20 s or less)" if device.type == "cuda" else ""
    print(f"  wall time end to end: {wall_seconds:.1f}s{goal}; run {timing.status} on "
          f"{timing.device}")
    print(f"    training epochs: {train_seconds:.1f}s at {rate or 0:.0f} img/s on average")
    for evaluation in evaluations:
        print(f"    {evaluation.split} evaluation with Grad-CAM: {evaluation.seconds or 0:.1f}s "
              f"for {evaluation.n_images} images")
    other = wall_seconds - train_seconds - sum(e.seconds or 0 for e in evaluations)
    print(f"    the rest (stores, calibration with TTA, typicality, records): {other:.1f}s",
          flush=True)


def recipe_wall_time(args: argparse.Namespace, device: torch.device) -> None:
    """`cxr train --recipe best` end to end in a fresh store, evaluation with Grad-CAM included.

    The images are decoded into the pixel cache first and timed apart: that happens once per
    dataset and image size, and every later run reads the cache.
    """
    from db.migrate import init_db
    from db.session import dispose_engines
    from db.splits import split_images
    from engine.data.discover import dataset_for_root
    from engine.data.splits import get_or_create_split
    from engine.training.recipes import recipe_settings
    from engine.training.train import main as train

    settings = {**recipe_settings("best"), "epochs": args.recipe_epochs, "device": str(device)}
    # A private home and SQLite store for the run; patch.dict restores the environment after.
    with (tempfile.TemporaryDirectory(prefix="cxr-bench-recipe-") as folder,
          patch.dict(os.environ, {"CXR_HOME": str(Path(folder) / "home")})):
        os.environ.pop("CXR_DATABASE_URL", None)
        root = (_copy_subset(Path(folder) / "data", args.recipe_per_class)
                if args.recipe_per_class else data_root())
        try:
            init_db()
            split_id = get_or_create_split(dataset_for_root(root),
                                           settings.get("split_seed", 0))
            subsets = {name: [image.path for image in split_images(split_id, name)]
                       for name in ("train", "val", "test")}
            print(f"\nrecipe best, {args.recipe_epochs} epochs on {device_name(device)}; "
                  + ", ".join(f"{name} {len(paths)}" for name, paths in subsets.items())
                  + " images:", flush=True)
            with Timer() as decode:
                for paths in subsets.values():
                    load_store(paths, settings["image_size"])
            print(f"  one-off decode into the pixel cache: {decode.seconds:.1f}s (not counted)",
                  flush=True)
            with Timer() as wall:
                run_id = train(TrainConfig(**settings, data=str(root)))
            _recipe_report(run_id, wall.seconds, device)
        finally:
            dispose_engines()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu (default) | cuda | cuda:N | auto")
    parser.add_argument("--quick", action="store_true",
                        help="rehearse every part with tiny settings (a CPU does it in minutes)")
    parser.add_argument("--configs", nargs="+", default=["resnet18:128", "resnet34:224"],
                        help="ARCH:SIZE pairs")
    parser.add_argument("--images", type=int,
                        help="images per throughput figure (default 640; 4096 on a GPU)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--lever-images", type=int, help="default 320; 2048 on a GPU")
    parser.add_argument("--no-levers", action="store_true")
    parser.add_argument("--recipe", action=argparse.BooleanOptionalAction,
                        help="time the best recipe end to end (default: on a GPU only)")
    parser.add_argument("--recipe-epochs", type=int, default=10)
    parser.add_argument("--recipe-per-class", type=int, default=0,
                        help="train the recipe on this many images per class (0: all)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    gpu = device.type == "cuda"
    args.images = args.images or (4096 if gpu else 640)
    args.lever_images = args.lever_images or (2048 if gpu else 320)
    args.recipe = gpu if args.recipe is None else args.recipe
    if args.quick:
        args.configs = [f"{pair.split(':')[0]}:64" for pair in args.configs]
        args.images, args.lever_images, args.recipe_epochs = 64, 64, 2
        args.recipe_per_class = args.recipe_per_class or 40
        args.no_levers, args.recipe = True, True
    os.environ.setdefault("CXR_NO_PROGRESS", "1")  # no progress bars between the figures
    print(f"machine: {machine()}; device: {device_name(device)}")
    print("training throughput, one epoch after a warm-up epoch")
    for pair in args.configs:
        arch, size = pair.split(":")
        compare(arch, int(size), args, device)
    if not args.no_levers:
        arch, size = args.configs[0].split(":")
        levers(arch, int(size), args, device)
    if args.recipe:
        recipe_wall_time(args, device)


if __name__ == "__main__":
    main()
