"""Calibration never raises val ECE; the Calibration value object; threshold rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.evaluation.calibration import Calibration, choose_calibration, fit_temperature
from engine.evaluation.metrics import expected_calibration_error, youden_threshold
from engine.evaluation.thresholds import (
    choose_threshold,
    parse_threshold_rule,
    youden_middle_threshold,
)


def _calibrated_logits(seed: int, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Logits of a model that is already calibrated: labels drawn from sigmoid(logit)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(1.0, 3.0, n)
    return logits, (rng.random(n) < 1 / (1 + np.exp(-logits))).astype(float)


@pytest.mark.parametrize("seed", range(8))
def test_calibration_never_raises_val_ece(seed: int) -> None:
    logits, labels = _calibrated_logits(seed)
    prior = float(np.log(0.35))  # the class-weighted loss's shift on the Kermany balance
    raw = expected_calibration_error(labels, Calibration().apply(logits))
    # What training used to keep unconditionally: the prior offset and a fitted temperature.
    forced = Calibration(prior, fit_temperature(logits - prior, labels))
    assert expected_calibration_error(labels, forced.apply(logits)) > raw  # the old harm
    chosen = choose_calibration(logits, labels, prior)
    assert expected_calibration_error(labels, chosen.apply(logits)) <= raw


def test_calibration_kept_when_it_lowers_val_ece() -> None:
    rng = np.random.default_rng(0)
    labels = (rng.random(400) < 0.7).astype(float)
    logits = np.where(labels == 1, rng.normal(6, 3, 400), rng.normal(-6, 3, 400)) + 2.0
    chosen = choose_calibration(logits, labels, 2.0)
    assert chosen != Calibration()
    assert (expected_calibration_error(labels, chosen.apply(logits))
            < expected_calibration_error(labels, Calibration().apply(logits)))


def test_calibration_value_object_round_trips() -> None:
    calibration = Calibration(offset=-1.2, temperature=1.7)
    logits = np.linspace(-8, 8, 33)
    probability = calibration.apply(logits)
    np.testing.assert_allclose(calibration.invert(probability), logits, atol=1e-6)
    np.testing.assert_allclose(calibration.uncalibrate(probability), 1 / (1 + np.exp(-logits)),
                               atol=1e-9)
    tensor = calibration.apply(torch.tensor(logits, dtype=torch.float32))
    np.testing.assert_allclose(tensor.numpy(), probability, atol=1e-6)
    # P >= threshold exactly where the raw logit reaches threshold_logit.
    cut = calibration.threshold_logit(0.3)
    assert np.array_equal(probability >= 0.3, logits >= cut - 1e-9)
    assert Calibration().uncalibrate(probability) is probability


def test_youden_middle_sits_inside_the_tie() -> None:
    labels = np.array([0, 0, 0, 1, 1, 1])
    probability = np.array([0.01, 0.05, 0.10, 0.90, 0.95, 0.99])
    edge = youden_threshold(labels, probability)
    middle = youden_middle_threshold(labels, probability)
    assert edge == pytest.approx(0.90)  # the edge of the tie, next to the positives
    # logit-space middle of 0.10 and 0.90 is 0.5; val is still perfectly split there.
    assert middle == pytest.approx(0.5, abs=1e-6)
    assert choose_threshold("youden-middle", labels, probability) == (
        pytest.approx(0.5, abs=1e-6), "youden-middle")
    # The rule is stored as it is spelt on the command line (one vocabulary).
    assert choose_threshold("sensitivity:0.97", labels, probability)[1] == "sensitivity:0.97"
    assert choose_threshold("fixed:0.5", labels, probability) == (0.5, "fixed:0.5")


def test_unknown_threshold_rule_names_it() -> None:
    with pytest.raises(Exception, match="youden-middle"):
        parse_threshold_rule("middle")
