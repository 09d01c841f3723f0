"""`cxr calibrate`: the refit on a site's small labelled sample (pure, on arrays), and the
command on real images under a synthetic acquisition shift (tests/site_calibration_store.py)."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select

from db import runs
from db.models import Evaluation, Prediction, RunMetric
from db.session import session_scope
from db.site_calibration import site_calibration
from engine.errors import UserError
from engine.evaluation.calibration import Calibration
from engine.evaluation.metrics import expected_calibration_error
from engine.evaluation.site_fit import (
    METHODS,
    bootstrap_rates,
    class_count_warning,
    fit_site,
    site_rule,
)


@pytest.fixture
def store(site_calibrated: dict, monkeypatch: pytest.MonkeyPatch) -> dict:
    """The site-calibrated store, made the current one for this test."""
    from tests.conftest import point_at

    point_at(monkeypatch, site_calibrated["home"], site_calibrated["url"])
    return site_calibrated


def _shifted_site(n: int, seed: int = 0, shift: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Raw logits whose calibrated P is right at logit - shift: the site moved every score up."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.5).astype(int)
    true_logit = rng.normal(np.where(labels == 1, 1.5, -1.5), 1.2)
    labels = (rng.random(n) < 1 / (1 + np.exp(-true_logit))).astype(int)
    return true_logit + shift, labels


@pytest.mark.parametrize("method", ["offset", "offset+temperature"])
def test_refit_finds_the_sites_offset_and_lowers_ece(method: str) -> None:
    logits, labels = _shifted_site(400)
    fit = fit_site(logits, labels, Calibration(), 0.5, "youden", method)
    assert fit.kept in ("offset", "offset+temperature")
    assert abs(fit.calibration.offset - 2.0) < 0.6
    held_logits, held_labels = _shifted_site(4000, seed=1)
    before = expected_calibration_error(held_labels, Calibration().apply(held_logits))
    after = expected_calibration_error(held_labels, fit.calibration.apply(held_logits))
    assert after < before / 2


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("method", METHODS)
def test_a_refit_never_raises_the_samples_ece(method: str, seed: int) -> None:
    logits, labels = _shifted_site(30, seed=seed, shift=float(seed) - 2)
    source = Calibration(0.3, 1.4)
    fit = fit_site(logits, labels, source, 0.5, "youden", method, source_prior=0.6)
    if method != "prior":
        assert (expected_calibration_error(labels, fit.calibration.apply(logits))
                <= expected_calibration_error(labels, source.apply(logits)) + 1e-12)
    if method == "threshold":
        assert fit.calibration == source
    if method == "prior":  # a pure class-balance shift: the temperature and threshold stay
        assert fit.threshold == 0.5 and fit.calibration.temperature == 1.4


def test_a_separable_sample_keeps_a_finite_temperature() -> None:
    from engine.evaluation.site_fit import fit_platt_scaling, platt_targets

    labels = np.array([0] * 10 + [1] * 10)
    logits = np.where(labels == 1, 3.0, -3.0) + np.linspace(-0.5, 0.5, 20)
    fit = fit_platt_scaling(logits, labels)
    probability = fit.apply(logits)
    # Hard 0/1 targets would sharpen without bound; Platt's stop near 1/12 and 11/12.
    assert fit.temperature > 0.2
    assert np.allclose(platt_targets(labels)[[0, -1]], [1 / 12, 11 / 12])
    assert 0.01 < probability.min() < 0.2 and 0.8 < probability.max() < 0.99


def test_threshold_follows_the_rule_on_the_sample() -> None:
    logits, labels = _shifted_site(200)
    fit = fit_site(logits, labels, Calibration(), 0.5, "sensitivity:0.95", "threshold")
    probability = Calibration().apply(logits)
    assert fit.rule == "sensitivity:0.95"
    assert (probability[labels == 1] >= fit.threshold).mean() >= 0.95


def test_a_youden_run_takes_the_middle_of_the_tie_unless_told() -> None:
    assert site_rule(None, "youden") == "youden-middle"
    assert site_rule("youden", "youden") == "youden"
    assert site_rule(None, "sensitivity:0.97") == "sensitivity:0.97"
    assert site_rule("fixed:0.5", "youden-middle") == "fixed:0.5"
    # "prior" keeps the run's threshold, so it says the run's rule and refuses another.
    assert site_rule(None, "youden", "prior") == "youden"
    with pytest.raises(UserError, match="--method prior keeps the run's threshold"):
        site_rule("fixed:0.3", "youden", "prior")
    with pytest.raises(UserError, match="--threshold-rule '' is empty"):
        site_rule("", "youden")


def test_bootstrap_intervals_hold_the_rate_and_narrow_with_more_images() -> None:
    logits, labels = _shifted_site(40)
    probability = Calibration(2.0).apply(logits)
    small = bootstrap_rates(labels, probability, 0.5, n_resamples=500)
    logits, labels = _shifted_site(1000)
    large = bootstrap_rates(labels, Calibration(2.0).apply(logits), 0.5, n_resamples=500)
    for rate in (*small, *large):
        assert 0 <= rate.low <= rate.value <= rate.high <= 1
    assert all(b.high - b.low < (a.high - a.low) / 2
               for a, b in zip(small, large, strict=True))


def test_warning_names_the_class_counts() -> None:
    assert class_count_warning(np.array([0] * 20 + [1] * 25)) is None
    warning = class_count_warning(np.array([0] * 7 + [1] * 30))
    assert "7 NORMAL and 30 PNEUMONIA" in warning and "fewer than 20 NORMAL" in warning


def test_one_class_or_an_unknown_method_is_refused() -> None:
    with pytest.raises(UserError, match="0 NORMAL and 5 PNEUMONIA"):
        fit_site(np.zeros(5), np.ones(5, dtype=int), Calibration(), 0.5, "youden")
    with pytest.raises(UserError, match="unknown --method 'platt'"):
        fit_site(np.zeros(4), np.array([0, 1, 0, 1]), Calibration(), 0.5, "youden", "platt")


def test_calibrated_run_shares_the_weights_and_refits_the_point(store: dict) -> None:
    assert store["code"] == 0
    source = runs.get_run(store["source"])
    new = runs.get_run(store["calibrated"])
    assert new.status == "completed" and new.checkpoint_path == source.checkpoint_path
    assert new.config["calibrated_from"] == source.id and new.threshold_rule == "youden-middle"
    assert new.config["calibrated_on"] == "site-sample" and "calibrated on site-sample" in new.label
    assert site_calibration(new.id).label.endswith("labelled images; threshold by youden-middle)")
    assert (new.threshold, new.temperature, new.logit_offset) != (
        source.threshold, source.temperature, source.logit_offset)


def test_evaluations_mark_the_sample_and_match_the_new_threshold(store: dict) -> None:
    from db.shift import external_evaluations, run_origins

    run_id = store["calibrated"]
    table = external_evaluations(run_id)
    assert sorted(table.dataset[table.split == "external"]) == ["site-rest", "site-sample"]
    assert table.set_index("dataset").calibration_sample.to_dict() == {
        "train": False, "site-sample": True, "site-rest": False} or set(
        table.dataset[table.calibration_sample]) == {"site-sample"}
    run = runs.get_run(run_id)
    with session_scope() as session:
        splits = session.scalars(select(Evaluation.split).where(
            Evaluation.run_id == run_id, Evaluation.status == "completed")).all()
        sample = table[table.calibration_sample].evaluation_id.iloc[0]
        rows = session.execute(select(Prediction.probability, Prediction.true_label).where(
            Prediction.evaluation_id == int(sample))).all()
        stored = session.scalar(select(RunMetric.sensitivity).where(
            RunMetric.evaluation_id == int(sample), RunMetric.threshold_rule == "youden-middle"))
    assert sorted(splits) == ["external", "external", "test", "val"]
    probability, labels = np.array(rows).T
    assert stored == pytest.approx((probability[labels == 1] >= run.threshold).mean())
    assert "calibrated from run" in run_origins([run_id])[run_id].label


def test_report_gives_intervals_and_the_class_count_warning(store: dict) -> None:

    info = site_calibration(store["calibrated"])
    assert (info.n_normal, info.n_pneumonia) == (12, 22)
    assert info.source_run_id == store["source"]
    assert info.sensitivity_low <= info.sensitivity <= info.sensitivity_high
    assert info.specificity_low <= info.specificity <= info.specificity_high
    out = store["output"]
    assert "warning: the sample has 12 NORMAL and 22 PNEUMONIA images" in out
    assert f"sensitivity {info.sensitivity:.3f} ({info.sensitivity_low:.3f}-" in out
    assert "calibrated from run" in out


def test_calibrated_run_scores_like_any_run(store: dict) -> None:
    from engine.inference.scoring import get_scorer

    image = next((store["rest"] / "PNEUMONIA").iterdir())
    score = get_scorer(store["calibrated"], device="cpu").score(image)
    run = runs.get_run(store["calibrated"])
    assert score.threshold == run.threshold
    assert score.predicted_label == int(score.probability >= run.threshold)


def test_bad_samples_are_one_line_errors(store: dict, tmp_path, capsys) -> None:
    import shutil

    from engine.cli import main as cli

    one_class = tmp_path / "one-class"
    shutil.copytree(store["sample"] / "PNEUMONIA", one_class / "PNEUMONIA")
    (one_class / "NORMAL").mkdir()  # the layout is right, the class is empty
    source = str(store["source"])
    assert cli(["calibrate", source, "--data", str(one_class), "--device", "cpu"]) == 2
    error = capsys.readouterr().err.strip()
    assert "0 NORMAL and 22 PNEUMONIA" in error and len(error.splitlines()) == 1
    assert cli(["calibrate", source, "--data", str(store["sample"]), "--method",
                "platt"]) == 2
    assert "unknown --method 'platt'" in capsys.readouterr().err
    assert cli(["calibrate", source, "--data", str(store["sample"]), "--evaluate",
                str(store["sample"])]) == 2
    assert "is the calibration sample itself" in capsys.readouterr().err
    # A rest folder with no usable image is refused before any run is stored.
    for label in ("NORMAL", "PNEUMONIA"):
        (tmp_path / "junk" / label).mkdir(parents=True)
        (tmp_path / "junk" / label / "a.jpeg").write_bytes(b"not an image")
    before = runs.count_runs()
    assert cli(["calibrate", source, "--data", str(store["sample"]), "--evaluate",
                str(tmp_path / "junk"), "--device", "cpu"]) == 2
    error = capsys.readouterr().err.strip()
    assert "holds no usable images" in error and "nothing was calibrated or stored" in error
    assert len(error.splitlines()) == 1 and runs.count_runs() == before
    # "prior" keeps the run's threshold, so a rule for it is refused, with nothing stored.
    assert cli(["calibrate", source, "--data", str(store["sample"]), "--method", "prior",
                "--threshold-rule", "fixed:0.3", "--device", "cpu"]) == 2
    error = capsys.readouterr().err.strip()
    assert "--method prior keeps the run's threshold (by youden)" in error
    assert runs.count_runs() == before


def test_the_report_says_the_threshold_was_chosen_on_the_site_sample(
        store: dict, tmp_path) -> None:
    from engine.cli import main as cli
    from engine.report.render import threshold_source

    assert cli(["report", str(store["calibrated"]), str(store["source"]), "-o",
                str(tmp_path / "r.html")]) == 0
    html = (tmp_path / "r.html").read_text()
    assert "youden-middle, chosen on the site sample site-sample" in html
    assert "youden, chosen on val" in html  # the source's
    assert threshold_source({"calibrated_on": "a", "calibrated_from": 3,
                             "site_calibration_method": "prior"}) == (
        "kept from run 3, chosen on its val")
