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
    with pytest.raises(Exception, match="'sensitivity:1.5': 1.5 is out of range"):
        parse_threshold_rule("sensitivity:1.5")
    with pytest.raises(Exception, match="unknown --threshold-rule 'sensitivity:high'"):
        parse_threshold_rule("sensitivity:high")


def test_fits_without_two_classes_or_any_logit_keep_the_identity() -> None:
    from engine.evaluation.calibration import fit_platt

    for logits, labels in (([], []), ([0.3, 2.0], [1.0, 1.0]), ([-1.0, 0.5], [0.0, 0.0])):
        assert fit_temperature(np.array(logits), np.array(labels)) == 1.0
        assert fit_platt(np.array(logits), np.array(labels)) == (1.0, 0.0)
    assert choose_calibration(np.array([]), np.array([])) == Calibration()


def test_fits_recover_the_temperature_and_offset_that_made_the_labels() -> None:
    """Labels drawn from sigmoid((logit - 1.5) / 2.5): Platt finds (2.5, 1.5), temperature
    alone (no offset in the data) finds 2.5; both within the sampling error of 20,000 draws."""
    from engine.evaluation.calibration import fit_platt

    rng = np.random.default_rng(0)
    logits = rng.normal(0.5, 4.0, 20_000)
    labels = (rng.random(20_000) < 1 / (1 + np.exp(-(logits - 1.5) / 2.5))).astype(float)
    temperature, offset = fit_platt(logits, labels)
    assert temperature == pytest.approx(2.5, rel=0.08) and offset == pytest.approx(1.5, abs=0.15)
    plain = (rng.random(20_000) < 1 / (1 + np.exp(-logits / 2.5))).astype(float)
    assert fit_temperature(logits, plain) == pytest.approx(2.5, rel=0.08)
    # Far outside its bounds, the temperature stops at them.
    assert fit_temperature(logits * 1000, plain) == pytest.approx(20.0)
    assert fit_temperature(logits / 1000, plain) == pytest.approx(0.05)


def test_logit_and_sigmoid_clip_and_keep_the_kind_of_value() -> None:
    from engine.evaluation.calibration import logit, sigmoid

    assert logit(0.0) == pytest.approx(np.log(1e-7 / (1 - 1e-7)))
    assert logit(1.0) == pytest.approx(-np.log(1e-7 / (1 - 1e-7)))
    assert isinstance(logit(0.25), float) and logit(0.25) == pytest.approx(np.log(1 / 3))
    assert isinstance(sigmoid(0.0), float) and sigmoid(0.0) == 0.5
    np.testing.assert_allclose(sigmoid(np.array([-2.0, 0.0, 2.0])),
                               [1 / (1 + np.e ** 2), 0.5, 1 / (1 + np.e ** -2)])
    tensor = logit(torch.tensor([0.0, 0.5, 1.0]))
    assert isinstance(tensor, torch.Tensor) and torch.isfinite(tensor).all()
    assert float(tensor[1]) == 0.0


def test_every_listed_rule_is_accepted_and_stored_as_spelt() -> None:
    from engine.evaluation.thresholds import RULES

    labels = np.array([0, 0, 1, 1, 0, 1])
    probability = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9])
    assert set(RULES) == {"youden", "youden-middle", "sensitivity:0.95", "fixed:0.5"}
    for rule in RULES:
        threshold, stored = choose_threshold(rule, labels, probability)
        assert stored == rule and 0.0 <= threshold <= 1.0
    assert parse_threshold_rule("sensitivity:1") == ("sensitivity", 1.0)
    assert parse_threshold_rule("fixed:0.3") == ("fixed", 0.3)
    assert choose_threshold("fixed:0.3", labels, probability) == (0.3, "fixed:0.3")
    assert choose_threshold("youden", labels, probability) == (
        youden_threshold(labels, probability), "youden")
    for bad in ("fixed:abc", "youden:0.5", "specificity:0.9", ""):
        with pytest.raises(Exception, match="unknown --threshold-rule"):
            parse_threshold_rule(bad)
    for bad in ("sensitivity:0", "sensitivity:1.5", "fixed:-0.2", "fixed:-1", "sensitivity:nan"):
        with pytest.raises(Exception, match="is out of range; give a value above 0 up to 1"):
            parse_threshold_rule(bad)


def test_youden_middle_of_a_tie_reaching_zero_and_of_one_class() -> None:
    labels = np.array([0, 0, 1, 1])
    assert youden_middle_threshold(np.ones(4), np.linspace(0.2, 0.8, 4)) == 0.5
    # The tie runs from the lowest positive (0.6) down to the highest negative (0.3).
    middle = youden_middle_threshold(labels, np.array([0.1, 0.3, 0.6, 0.9]))
    expected = 1 / (1 + np.exp(-(np.log(0.6 / 0.4) + np.log(0.3 / 0.7)) / 2))
    assert middle == pytest.approx(expected, abs=1e-9)
    # With no score below the tie, its lower end is 0 (clipped to 1e-7 in logit space).
    middle = youden_middle_threshold(np.array([1, 1, 0, 0]), np.array([0.6, 0.9, 0.0, 0.0]))
    expected = 1 / (1 + np.exp(-(np.log(0.6 / 0.4) + np.log(1e-7 / (1 - 1e-7))) / 2))
    assert middle == pytest.approx(expected, rel=1e-6)
