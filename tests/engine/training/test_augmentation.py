"""The generalisation levers: crops with shear, acquisition randomisation, JPEG variants, mixup, and
the matching shift checks. Off by default: the reference batch is unchanged."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from engine.data.pixels import augment, to_input
from engine.evaluation.perturbations import SHIFTS, apply_shift
from engine.training.augmentation import (
    acquisition,
    center_crop,
    jpeg_variants,
    mixup,
    pick_films,
    random_resized_crop,
    training_batch,
)
from engine.training.train import TrainConfig


def _films(n: int = 6, size: int = 64) -> torch.Tensor:
    rng = np.random.default_rng(0)
    base = np.linspace(0, 255, size, dtype=np.float32)[None, :] * np.ones((size, 1))
    films = base[None] + rng.normal(0, 25, (n, size, size))
    return torch.from_numpy(np.clip(films, 0, 255).astype(np.uint8))


def test_default_config_batch_is_the_reference_batch() -> None:
    store, labels = _films(), torch.tensor([0, 1, 0, 1, 1, 0], dtype=torch.float32)
    index = torch.tensor([4, 1, 2, 0])
    inputs, targets = training_batch(store, labels, index, TrainConfig(),
                                     torch.Generator().manual_seed(3))
    expected = augment(to_input(store[index]), torch.Generator().manual_seed(3))
    torch.testing.assert_close(inputs, expected)
    torch.testing.assert_close(targets, labels[index])


def test_levers_change_the_batch_and_are_seeded() -> None:
    store, labels = _films(), torch.tensor([0, 1, 0, 1, 1, 0], dtype=torch.float32)
    index = torch.arange(6)
    config = dataclasses.replace(TrainConfig(), crop_scale_min=0.25, shear_degrees=8.0,
                                 jpeg_share=0.5, acquisition=0.5, mixup_alpha=0.4)
    variants = jpeg_variants(store, seed=1)
    first = training_batch(store, labels, index, config, torch.Generator().manual_seed(5),
                           variants)
    again = training_batch(store, labels, index, config, torch.Generator().manual_seed(5),
                           variants)
    plain = training_batch(store, labels, index, TrainConfig(), torch.Generator().manual_seed(5))
    torch.testing.assert_close(first[0], again[0])
    assert first[0].shape == plain[0].shape
    assert not torch.allclose(first[0], plain[0])
    assert ((first[1] >= 0) & (first[1] <= 1)).all()
    assert not torch.equal(first[1], labels)  # mixup blends the targets too


def test_mixup_blends_images_and_targets_with_one_weight_and_one_partner() -> None:
    """Image i becomes w * image_i + (1 - w) * image_p(i), and its target likewise, with one
    Beta(alpha, alpha) weight w per batch and p a permutation of the batch."""
    from scipy import stats

    n = 8
    inputs = torch.eye(n).reshape(n, 1, 2, 4)  # image i is the unit vector e_i
    targets = torch.arange(n, dtype=torch.float32) / 10
    weights = []
    for seed in range(200):
        mixed, mixed_targets = mixup(inputs, targets, 0.4, torch.Generator().manual_seed(seed))
        flat = mixed.reshape(n, n)
        partner = [i if flat[i, i] == 1 else int(torch.argmax(
            flat[i] - flat[i, i] * torch.eye(n)[i])) for i in range(n)]
        assert sorted(partner) == list(range(n))
        moved = [i for i in range(n) if partner[i] != i]
        weight = float(flat[moved[0], moved[0]]) if moved else None
        for i in range(n):
            expected = inputs[i] if partner[i] == i else (
                weight * inputs[i] + (1 - weight) * inputs[partner[i]])
            torch.testing.assert_close(mixed[i], expected)
            w = 1.0 if partner[i] == i else weight
            assert float(mixed_targets[i]) == pytest.approx(
                w * float(targets[i]) + (1 - w) * float(targets[partner[i]]), abs=1e-6)
        if weight is not None:
            weights.append(weight)
    # The weight is drawn from Beta(0.4, 0.4): mostly near 0 or 1, symmetric about 0.5.
    assert stats.kstest(weights, stats.beta(0.4, 0.4).cdf).pvalue > 0.01


def test_jpeg_variants_reencode_and_get_picked() -> None:
    store = _films()
    variants = jpeg_variants(store, seed=0)
    assert variants.shape == (2, *store.shape) and variants.dtype == torch.uint8
    assert not torch.equal(variants[0], store)
    index = torch.arange(6)
    every = pick_films(store, variants, index, 1.0, torch.Generator().manual_seed(0))
    assert all(torch.equal(every[i], variants[0, i]) or torch.equal(every[i], variants[1, i])
               for i in range(6))
    assert torch.equal(pick_films(store, variants, index, 0.0, torch.Generator()), store)


def test_acquisition_and_crop() -> None:
    films = _films()
    torch.testing.assert_close(acquisition(films, 0.0, torch.Generator().manual_seed(0)),
                               films.float())
    changed = acquisition(films, 1.0, torch.Generator().manual_seed(0))
    assert changed.shape == films.shape and 0 <= float(changed.min()) <= float(changed.max()) <= 255
    # Downscale and blur take the high-frequency noise away.
    assert changed.diff(dim=2).abs().mean() < films.float().diff(dim=2).abs().mean()
    inputs = to_input(films)
    cropped = random_resized_crop(inputs, torch.Generator().manual_seed(0), 0.25, 5.0)
    assert cropped.shape == inputs.shape and not torch.allclose(cropped, inputs)
    kept = center_crop(films.numpy(), 0.8)
    assert kept.shape == films.shape and not np.array_equal(kept, films.numpy())
    assert center_crop(films.numpy(), 1.0) is not None


def test_mixup_blends_pairs() -> None:
    inputs, targets = torch.randn(8, 1, 4, 4), torch.tensor([0., 1.] * 4)
    mixed, mixed_targets = mixup(inputs, targets, 0.4, torch.Generator().manual_seed(0))
    assert mixed.shape == inputs.shape and ((mixed_targets >= 0) & (mixed_targets <= 1)).all()


def test_new_shift_checks() -> None:
    assert {"crop-0.7", "jpeg-q50", "downscale-0.5", "downscale-0.3"} <= set(SHIFTS)
    films = _films(2, 96).numpy()
    sharpness = np.abs(np.diff(films.astype(float), axis=2)).mean()
    for name in ("downscale-0.5", "downscale-0.3", "jpeg-q50"):
        shifted = apply_shift(name, films)
        assert shifted.shape == films.shape
        assert np.abs(np.diff(shifted.astype(float), axis=2)).mean() < sharpness
    zoomed = apply_shift("crop-0.7", films)
    # The left-to-right gradient is stretched: the first column is brighter after the crop.
    assert zoomed[:, :, 0].mean() > films[:, :, 0].mean() + 20


def test_marker_shift_draws_one_seeded_corner_letter_and_leaves_the_rest() -> None:
    films = np.full((8, 128, 128), 90, dtype=np.uint8)
    marked = apply_shift("marker", films, seed=3)
    assert (marked == apply_shift("marker", films, seed=3)).all()
    corners = {}
    for index, film in enumerate(marked):
        rows, cols = np.nonzero(film != 90)
        # A bright letter, no taller than a tenth of the film, inside one corner's quarter.
        assert film.max() > 200 and 3 <= np.ptp(rows) <= 13
        assert (np.ptp(rows) < 32) and (np.ptp(cols) < 32)
        corners[index] = (rows.mean() < 64, cols.mean() < 64)
        assert (film[40:88, 40:88] == 90).all()
    assert len(set(corners.values())) > 1  # the corner follows the seed


def test_run_with_every_lever_completes_and_calibration_never_hurts_val(
        cxr_home, real_subset) -> None:  # noqa: ANN001
    from sqlalchemy import select

    from db.models import Evaluation, Run, RunMetric
    from db.session import session_scope
    from engine.training.train import main

    run_id = main(TrainConfig(arch="small_cnn", data=str(real_subset), epochs=2, image_size=64,
                              batch_size=16, seed=0, crop_scale_min=0.25, shear_degrees=8.0,
                              test_center_crop=0.9, jpeg_share=0.3, acquisition=0.3,
                              mixup_alpha=0.4, threshold_rule="youden-middle"))
    with session_scope() as session:
        run = session.get(Run, run_id)
        assert run.status == "completed" and run.config["jpeg_share"] == 0.3
        assert run.threshold_rule == "youden-middle"
        val = session.scalar(select(Evaluation).where(Evaluation.run_id == run_id,
                                                      Evaluation.split == "val"))
        metric = session.scalar(select(RunMetric).where(
            RunMetric.evaluation_id == val.id, RunMetric.threshold_rule == run.threshold_rule))
        # Calibration fitted on val is kept only where it lowers val ECE.
        assert metric.ece <= val.ece_uncalibrated + 1e-9


def test_best_recipe_carries_the_levers_and_trains(cxr_home, real_subset) -> None:  # noqa: ANN001
    from db import runs
    from engine.training.recipes import recipe_settings
    from engine.training.train import main

    settings = {**recipe_settings("best"), "epochs": 1, "image_size": 64, "batch_size": 16,
                "data": str(real_subset)}
    assert settings["crop_scale_min"] < 1 and settings["jpeg_share"] > 0
    run = runs.get_run(main(TrainConfig(**settings)))
    assert run.status == "completed" and run.config["acquisition"] == 0.3
