"""The training batch of a recipe: acquisition randomisation, random resized crops with shear,
the plain jitter of engine/data/pixels.py, and mixup. Each lever is off by default (the `reference`
recipe and older runs train exactly as before); `--recipe best` turns on those measured to pay
(engine/training/recipes.py says why).

Why these levers: the official Kermany test was acquired and encoded differently
(smaller files, other JPEG compression and resolution, other framing), and there specificity
collapsed. So training sees films re-compressed, downscaled, blurred, re-exposed and cropped.

JPEG re-compression needs the CPU codec (cv2.imencode/imdecode), which would stall a GPU store
every batch. Instead `jpeg_variants` re-encodes the whole uint8 store a few times once per run
(each image at its own random quality in 30-95) and keeps the variants beside the store on its
device; each batch then swaps a random share of its images for one of their variants. Everything
else runs on the batch's device, in torch.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from engine.data.pixels import augment, to_input
from engine.training.config import TrainConfig

JPEG_QUALITY = (30, 95)
JPEG_VARIANTS = 2


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=generator, device=generator.device) * (high - low) + low


def _reencode(gray: np.ndarray, quality: int) -> np.ndarray:
    ok, encoded = cv2.imencode(".jpg", np.ascontiguousarray(gray),
                               [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE) if ok else gray


def jpeg_variants(store: torch.Tensor, seed: int, count: int = JPEG_VARIANTS) -> torch.Tensor:
    """(count, N, H, W) uint8: the store re-encoded as JPEG, each image at a random quality."""
    rng = np.random.default_rng(seed)
    films = store.detach().cpu().numpy()
    variants = np.stack([np.stack([_reencode(gray, rng.integers(*JPEG_QUALITY, endpoint=True))
                                   for gray in films]) for _ in range(count)])
    return torch.from_numpy(variants).to(store.device)


def pick_films(store: torch.Tensor, variants: torch.Tensor | None, index: torch.Tensor,
               share: float, generator: torch.Generator) -> torch.Tensor:
    """The batch's uint8 films, a `share` of them swapped for a JPEG re-encoded variant."""
    films = store[index]
    if variants is None or share <= 0:
        return films
    n = len(index)
    swap = (torch.rand(n, generator=generator, device=generator.device) < share)
    which = torch.randint(len(variants), (n,), generator=generator, device=generator.device)
    swap, which = swap.to(store.device), which.to(store.device)
    chosen = variants[which, index]
    return torch.where(swap.view(n, 1, 1), chosen, films)


def acquisition(films: torch.Tensor, share: float, generator: torch.Generator) -> torch.Tensor:
    """(N, H, W) films (0-255) -> float films with, each at probability `share`, a
    downscale-then-upscale (to 35-80% of the side), a Gaussian blur, and a gamma (0.7-1.5)."""
    n, height, width = films.shape
    out = films.float().unsqueeze(1)
    draws = torch.rand(3, n, generator=generator, device=generator.device) < share
    downscale, blur, regamma = (mask.to(out.device) for mask in draws)
    factor = float(_uniform(1, 0.35, 0.8, generator))
    small = F.interpolate(out, scale_factor=factor, mode="area")
    coarse = F.interpolate(small, size=(height, width), mode="bilinear", align_corners=False)
    out = torch.where(downscale.view(n, 1, 1, 1), coarse, out)
    sigma = float(_uniform(1, 0.5, 1.5, generator)) * height / 224
    radius = max(1, math.ceil(2 * sigma))
    taps = torch.arange(-radius, radius + 1, device=out.device, dtype=out.dtype)
    kernel = torch.exp(-taps ** 2 / (2 * sigma ** 2))
    kernel = kernel / kernel.sum()
    padded = F.pad(out, (radius, radius, radius, radius), mode="replicate")
    blurred = F.conv2d(F.conv2d(padded, kernel.view(1, 1, 1, -1)), kernel.view(1, 1, -1, 1))
    out = torch.where(blur.view(n, 1, 1, 1), blurred, out)
    gamma = _uniform(n, 0.7, 1.5, generator).to(out.device, out.dtype).view(n, 1, 1, 1)
    regammaed = 255.0 * (out.clamp(0, 255) / 255.0) ** gamma
    return torch.where(regamma.view(n, 1, 1, 1), regammaed, out).squeeze(1)


def random_resized_crop(batch: torch.Tensor, generator: torch.Generator, scale_min: float,
                        shear_degrees: float = 0.0) -> torch.Tensor:
    """Random resized crops of a normalised (N, 1, H, W) batch: each image keeps a random
    `scale_min`-1 of its area at aspect 3/4-4/3, anywhere on the film, with a small shear."""
    n = batch.shape[0]
    area = _uniform(n, scale_min, 1.0, generator)
    aspect = torch.exp(_uniform(n, math.log(3 / 4), math.log(4 / 3), generator))
    width = torch.sqrt(area * aspect).clamp(max=1.0)
    height = torch.sqrt(area / aspect).clamp(max=1.0)
    centre_x = _uniform(n, -1.0, 1.0, generator) * (1 - width)
    centre_y = _uniform(n, -1.0, 1.0, generator) * (1 - height)
    shear = torch.tan(_uniform(n, -shear_degrees, shear_degrees, generator) * math.pi / 180)
    zeros = torch.zeros(n)
    theta = torch.stack([torch.stack([width, shear * height, centre_x], 1),
                         torch.stack([zeros, height, centre_y], 1)], 1)
    theta = theta.to(device=batch.device, dtype=batch.dtype)
    grid = F.affine_grid(theta, list(batch.shape), align_corners=False)
    background = batch.amin(dim=(1, 2, 3), keepdim=True)
    return F.grid_sample(batch - background, grid, align_corners=False) + background


def mixup(inputs: torch.Tensor, targets: torch.Tensor, alpha: float,
          generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup (Zhang et al., 2018): each image blended with another of the batch, and its
    target likewise, with one Beta(alpha, alpha) weight per batch."""
    weight = float(np.random.default_rng(int(torch.randint(
        2 ** 31, (1,), generator=generator, device=generator.device))).beta(alpha, alpha))
    partner = torch.randperm(len(inputs), generator=generator,
                             device=generator.device).to(inputs.device)
    return (weight * inputs + (1 - weight) * inputs[partner],
            weight * targets + (1 - weight) * targets[partner])


def center_crop(films: np.ndarray, keep: float) -> np.ndarray:
    """Test-time centre crop: keep the middle `keep` of each side, resized back (1.0: off)."""
    if keep >= 1.0 or len(films) == 0:
        return films
    size = films.shape[1]
    margin = int(round(size * (1 - keep) / 2))
    return np.stack([cv2.resize(np.ascontiguousarray(film[margin:size - margin,
                                                         margin:size - margin]),
                                (size, size), interpolation=cv2.INTER_AREA) for film in films])


def training_batch(store: torch.Tensor, labels: torch.Tensor, index: torch.Tensor,
                   config: TrainConfig, generator: torch.Generator,
                   variants: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(normalised inputs, targets) of one training batch, with the config's augmentation."""
    if not config.augment:
        return to_input(store[index]), labels[index]
    films = pick_films(store, variants, index, config.jpeg_share, generator)
    if config.acquisition:
        films = acquisition(films, config.acquisition, generator)
    inputs = to_input(films)
    if config.crop_scale_min < 1.0 or config.shear_degrees:
        inputs = random_resized_crop(inputs, generator, config.crop_scale_min,
                                     config.shear_degrees)
    k = config.augment_strength
    inputs = augment(inputs, generator, max_degrees=7.0 * k, max_translate=0.06 * k,
                     scale_range=(1 - 0.08 * k, 1 + 0.08 * k), brightness=0.15 * k,
                     contrast=0.15 * k)
    targets = labels[index]
    if config.mixup_alpha:
        inputs, targets = mixup(inputs, targets, config.mixup_alpha, generator)
    return inputs, targets
