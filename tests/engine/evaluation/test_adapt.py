"""`cxr adapt`: AdaBN on a new site's unlabelled images makes a new, transductive run."""

from __future__ import annotations

import hashlib
import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from sqlalchemy import select

from db import runs
from db.models import Evaluation, Prediction, Run
from db.session import artifacts_root, session_scope
from tests.conftest import NIH, copy_subset, cxr_environment


def _new_site(destination: Path, per_class: int = 16) -> Path:
    """A few NIH ChestX-ray8 images (another hospital, adults) in NORMAL/ PNEUMONIA/."""
    if not (NIH / "NORMAL").is_dir():
        pytest.skip(f"the NIH sample is not at {NIH}")
    rng = random.Random(0)
    for name in ("NORMAL", "PNEUMONIA"):
        files = sorted((NIH / name).iterdir())
        rng.shuffle(files)
        (destination / name).mkdir(parents=True)
        for path in files[:per_class]:
            shutil.copy2(path, destination / name / path.name)
    return destination


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _source_row(run_id: int) -> tuple:
    with session_scope() as session:
        run = session.get(Run, run_id)
        return (run.status, run.checkpoint_path, run.threshold, run.temperature,
                run.logit_offset, run.typicality_path, dict(run.config))


def _probabilities(evaluation_id: int) -> dict[int, float]:
    with session_scope() as session:
        rows = session.execute(select(Prediction.image_id, Prediction.probability).where(
            Prediction.evaluation_id == evaluation_id)).all()
    return dict(rows)


@pytest.fixture(scope="module")
def adapted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    from engine.evaluation.adaptation import adapt_run
    from engine.evaluation.evaluate import evaluate_run
    from engine.training.train import TrainConfig, main

    data = copy_subset(tmp_path_factory.mktemp("adapt-subset"), per_class=40)
    site = _new_site(tmp_path_factory.mktemp("new-site"))
    with cxr_environment(tmp_path_factory.mktemp("adapt-home")) as home:
        source_id = main(TrainConfig(arch="small_cnn", data=str(data), epochs=2, image_size=64,
                                     batch_size=16, seed=0, name="source"))
        checkpoint = artifacts_root() / runs.get_run(source_id).checkpoint_path
        before = (_digest(checkpoint), _source_row(source_id))
        source_external = evaluate_run(source_id, data_dir=str(site), device="cpu")
        adapted_id = adapt_run(source_id, str(site), device="cpu")
        yield {"home": home, "source": source_id, "adapted": adapted_id, "site": site, "data": data,
               "before": before, "checkpoint": checkpoint, "source_external": source_external}


def _batchnorm_means(run_id: int) -> list[torch.Tensor]:
    state = torch.load(artifacts_root() / runs.get_run(run_id).checkpoint_path,
                       weights_only=True)
    return [value for key, value in state.items() if key.endswith("running_mean")]


def test_batchnorm_statistics_change(adapted: dict) -> None:
    source, new = _batchnorm_means(adapted["source"]), _batchnorm_means(adapted["adapted"])
    assert source and len(source) == len(new)
    assert all(not torch.allclose(a, b) for a, b in zip(source, new, strict=True))


def test_new_run_records_its_origin_and_its_own_calibration(adapted: dict) -> None:
    with session_scope() as session:
        run = session.get(Run, adapted["adapted"])
        assert run.status == "completed" and run.adapted_from_run_id == adapted["source"]
        assert run.adapted_on_dataset_id is not None and run.config["transductive"] is True
        assert "adapted on" in run.name and run.checkpoint_path != session.get(
            Run, adapted["source"]).checkpoint_path
        splits = set(session.scalars(select(Evaluation.split).where(
            Evaluation.run_id == run.id, Evaluation.status == "completed")))
        assert splits == {"val", "test", "external"}
        external = session.scalar(select(Evaluation).where(Evaluation.run_id == run.id,
                                                           Evaluation.split == "external"))
        assert external.drift_psi is not None and external.drift_ks is not None
        cams = session.scalars(select(Prediction.cam_path).where(
            Prediction.evaluation_id == external.id)).all()
        assert cams and all((artifacts_root() / cam).is_file() for cam in cams)


def test_predictions_change(adapted: dict) -> None:
    with session_scope() as session:
        external = session.scalar(select(Evaluation.id).where(
            Evaluation.run_id == adapted["adapted"], Evaluation.split == "external"))
    before, after = _probabilities(adapted["source_external"]), _probabilities(external)
    assert before.keys() == after.keys()
    assert max(abs(before[i] - after[i]) for i in before) > 1e-3


def test_source_run_untouched(adapted: dict) -> None:
    digest, row = adapted["before"]
    assert _digest(adapted["checkpoint"]) == digest
    assert _source_row(adapted["source"]) == row


def test_cli_tables_say_transductive(adapted: dict, capsys: pytest.CaptureFixture) -> None:
    from engine.cli import main as cli

    assert cli(["runs"]) == 0
    out = capsys.readouterr().out
    assert f"adapted from run {adapted['source']}" in out and "transductive" in out


def test_prior_estimate_moves_towards_the_site() -> None:
    from engine.evaluation.adaptation import estimate_prior

    rng = np.random.default_rng(0)
    labels = rng.random(4000) < 0.2  # the new site: 20% pneumonia; val had 70%
    feature = rng.normal(np.where(labels, 1.0, -1.0), 1.0)
    # Posteriors exact for a 70% prior (likelihood ratio exp(2x)) overstate pneumonia here.
    odds = np.exp(2 * feature) * 0.7 / 0.3
    estimate = estimate_prior(odds / (1 + odds), 0.7)
    assert abs(estimate - 0.2) < 0.05


def test_adapting_an_unknown_run_names_it(adapted: dict) -> None:
    from engine.errors import UserError
    from engine.evaluation.adaptation import adapt_run

    with pytest.raises(UserError, match="run 999"):
        adapt_run(999, str(adapted["site"]), device="cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (see README: GPU)")
def test_adapt_on_cuda_matches_cpu(adapted: dict) -> None:
    from engine.evaluation.adaptation import adapt_run

    cuda_id = adapt_run(adapted["source"], str(adapted["site"]), device="cuda", name="on-cuda")
    with session_scope() as session:
        assert session.get(Run, cuda_id).device.startswith("cuda")
    for cpu, gpu in zip(_batchnorm_means(adapted["adapted"]), _batchnorm_means(cuda_id),
                        strict=True):
        torch.testing.assert_close(cpu, gpu.cpu(), atol=1e-4, rtol=1e-3)


def _skewed_site(data: Path, destination: Path, pneumonia: int = 6) -> Path:
    """The source's own population with another class balance (pure label shift): its NORMAL
    training images and a few of its PNEUMONIA ones."""
    for name, count in (("NORMAL", None), ("PNEUMONIA", pneumonia)):
        (destination / name).mkdir(parents=True)
        for path in sorted((data / name).iterdir())[:count]:
            shutil.copy2(path, destination / name / path.name)
    return destination


def test_prior_option_moves_the_offset(adapted: dict, tmp_path: Path) -> None:
    from engine.evaluation.adaptation import adapt_run

    site = _skewed_site(adapted["data"], tmp_path / "skewed")
    plain_id = adapt_run(adapted["source"], str(site), device="cpu", name="plain")
    with_prior = adapt_run(adapted["source"], str(site), prior=True, device="cpu",
                           name="with-prior")
    plain, shifted = runs.get_run(plain_id), runs.get_run(with_prior)
    assert shifted.config["adapt_prior"] is True
    assert shifted.threshold == pytest.approx(plain.threshold)
    # Fewer pneumonias than val: the offset moves the scores down. The calibrated logit is
    # (raw - offset) / temperature, so the offset grows.
    assert shifted.logit_offset > plain.logit_offset + 1e-3


def test_prior_refused_where_the_images_differ_too(adapted: dict, tmp_path: Path) -> None:
    """Images unlike the training population break the label-shift assumption: --prior is
    refused with the share and the folder named, and nothing is stored."""
    import cv2

    from engine.errors import UserError
    from engine.evaluation.adaptation import adapt_run

    rng = np.random.default_rng(0)
    for name in ("NORMAL", "PNEUMONIA"):
        (tmp_path / "odd" / name).mkdir(parents=True)
        for index in range(8):
            cv2.imwrite(str(tmp_path / "odd" / name / f"{index}.png"),
                        rng.integers(0, 256, (224, 224), dtype=np.uint8))
    with session_scope() as session:
        before = session.execute(select(Run.id)).all()
    with pytest.raises(UserError, match=r"--prior refused: 100% of the 16 images in .*odd"):
        adapt_run(adapted["source"], str(tmp_path / "odd"), prior=True, device="cpu")
    with session_scope() as session:
        assert session.execute(select(Run.id)).all() == before


def test_batchnorm_reestimate_is_deterministic_with_stochastic_depth() -> None:
    """EfficientNet-B0 has stochastic depth and dropout: AdaBN must re-estimate BatchNorm on
    the model's inference path, so two passes over the same images agree exactly."""
    from engine.evaluation.adaptation import reestimate_batchnorm
    from engine.models import create_model

    torch.manual_seed(0)
    model = create_model("efficientnet_b0")
    store = torch.randint(0, 256, (12, 64, 64), dtype=torch.uint8)
    passes = []
    for seed in (1, 2):
        torch.manual_seed(seed)  # a different draw of any randomness left on
        assert reestimate_batchnorm(model, store, torch.device("cpu"), batch_size=4) > 0
        passes.append([m.running_var.clone() for m in model.modules()
                       if isinstance(m, torch.nn.BatchNorm2d)])
    assert not model.training
    for first, second in zip(*passes, strict=True):
        torch.testing.assert_close(first, second)
