"""Attention metrics: border share, lung share, pointing game, lung-mask plausibility."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from db.attention import aggregate_attention, attention_summary
from db.models import Evaluation, Image, Prediction
from db.session import session_scope
from engine.data.pixels import load_store
from engine.data.synthetic import generate
from engine.explain.attention import attention_metrics, border_band, energy_share
from engine.explain.lungmask import check_masks, lung_mask
from engine.training.train import TrainConfig, main
from tests.conftest import real_data_root


def test_corner_cam_has_border_share_near_one() -> None:
    cam = np.zeros((128, 128), np.float32)
    cam[:10, :10] = 1.0  # a hot spot where the side marker sits
    gray = np.full((128, 128), 120, np.uint8)
    assert attention_metrics(gray, cam).border_share == pytest.approx(1.0)
    centre = np.zeros_like(cam)
    centre[54:74, 54:74] = 1.0
    assert attention_metrics(gray, centre).border_share == 0.0
    uniform = np.ones_like(cam)
    band = border_band(128, 128)
    assert energy_share(uniform, band) == pytest.approx(band.mean())


def test_lung_share_and_peak() -> None:
    gray = np.full((100, 100), 200, np.uint8)
    cam = np.zeros((100, 100), np.float32)
    cam[40:50, 20:30] = 1.0
    region = np.zeros((100, 100), bool)
    region[30:60, 10:40] = True
    assert energy_share(cam, region) == 1.0
    assert energy_share(np.zeros_like(cam), region) != energy_share(np.zeros_like(cam), region)
    assert attention_metrics(gray, cam, lesion=region).lesion_hit is True


def test_lung_mask_is_plausible_on_real_images() -> None:
    files = []
    for name in ("NORMAL", "PNEUMONIA"):
        files += sorted((real_data_root() / name).iterdir())[::40]
    grays, _ = load_store([str(path) for path in files], 224, cache=False)
    check = check_masks([path.name for path in files], grays)
    assert check.n_images > 120
    assert check.plausible_share >= 0.95, check.outliers
    assert 0.12 < check.area_mean < 0.45
    # The two fields sit left and right of the midline, not across it.
    mask = lung_mask(grays[0])
    assert mask[:, :112].any() and mask[:, 112:].any()


def test_pointing_game_on_synthetic_lesions_beats_chance(cxr_home: Path,
                                                         tmp_path: Path) -> None:
    root = generate(tmp_path / "synthetic", n_per_class=100, size=64, seed=4)
    run_id = main(TrainConfig(arch="small_cnn", data=str(root), epochs=10, image_size=64,
                              batch_size=16, patience=10))
    with session_scope() as session:
        evaluation_ids = session.scalars(select(Evaluation.id).where(
            Evaluation.run_id == run_id)).all()
        rows = session.execute(select(Prediction.lesion_hit, Prediction.lesion_share,
                                      Prediction.probability, Image.lesion_mask_path)
                               .join(Image, Image.id == Prediction.image_id)
                               .where(Prediction.evaluation_id.in_(evaluation_ids),
                                      Prediction.true_label == 1)).all()
    evaluation_id = evaluation_ids[-1]
    assert rows and all(r.lesion_mask_path for r in rows)
    masks, _ = load_store([str(root / r.lesion_mask_path) for r in rows], 64, cache=False)
    chance = float((masks > 127).mean())  # expected hit rate of a random peak
    hit_rate = float(np.mean([r.lesion_hit for r in rows]))
    energy = float(np.mean([r.lesion_share for r in rows]))
    print(f"pointing game: hit rate {hit_rate:.3f}, lesion energy share {energy:.3f}, "
          f"chance {chance:.3f}")
    assert len(rows) >= 25
    assert hit_rate > 3 * chance and energy > 1.5 * chance, (hit_rate, energy, chance)
    with session_scope() as session:  # the stored pre-aggregate equals a fresh scan
        stored = session.get(Evaluation, evaluation_id).attention
        assert stored is not None and stored == aggregate_attention(session, evaluation_id)
    summary = {s.group: s for s in attention_summary(evaluation_id)}
    assert summary["all"].n == summary["correct"].n + summary["wrong"].n
    assert summary["all"].lesion_hit_rate is not None
    assert 0 <= summary["all"].border_share_mean <= 1
