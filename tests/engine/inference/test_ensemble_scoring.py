"""Ensembles score new images like any run (`cxr score`, `--run`, the Score
page's runs, the upload history, `cxr evaluate --uploads`), and are calibrated.

The members reproduce the demo's pair on real images: a small CNN stopped early, whose
calibrated probabilities sit in a narrow band, beside a confident ResNet-18. The mean of their
probabilities, uncalibrated, had val ECE 0.31 against 0.07 and 0.13 for the members.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from db import runs
from db import uploads as upload_db
from db.models import Evaluation, Image, Prediction
from db.session import session_scope
from engine.cli import main as cxr


@pytest.fixture(scope="module")
def ensemble_home(tmp_path_factory: pytest.TempPathFactory, real_subset: Path) -> Iterator[dict]:
    from engine.evaluation.ensembles import create_ensemble
    from engine.training.train import TrainConfig, main
    from tests.conftest import cxr_environment

    with cxr_environment(tmp_path_factory.mktemp("ensemble-home")) as home:
        flat = main(TrainConfig(arch="small_cnn", data=str(real_subset), epochs=2,
                                image_size=64, batch_size=16, seed=0, name="flat-small-cnn"))
        confident = main(TrainConfig(arch="resnet18", data=str(real_subset), epochs=4,
                                     image_size=64, batch_size=16, seed=1,
                                     name="confident-resnet18"))
        ensembles = {combine: create_ensemble([flat, confident], name=f"ensemble-{combine}",
                                              combine=combine) for combine in ("prob", "logit")}
        yield {"home": home, "members": [flat, confident], "ensembles": ensembles,
               "data": real_subset}


def _val_ece(run_id: int) -> float:
    from db.run_table import run_records

    return run_records([run_id])[0]["val_ece"]


def test_ensemble_val_ece_is_no_worse_than_its_worst_member(ensemble_home: dict) -> None:
    worst_member = max(_val_ece(run_id) for run_id in ensemble_home["members"])
    for combine, run_id in ensemble_home["ensembles"].items():
        assert _val_ece(run_id) <= worst_member, combine


def _val_image(run_id: int) -> tuple[Path, float]:
    """A val image and the probability the run's val evaluation gave it."""
    with session_scope() as session:
        evaluation_id = session.scalar(select(Evaluation.id).where(
            Evaluation.run_id == run_id, Evaluation.split == "val",
            Evaluation.status == "completed"))
        prediction = session.scalars(select(Prediction).where(
            Prediction.evaluation_id == evaluation_id).order_by(Prediction.id)).first()
        image = session.get(Image, prediction.image_id)
        return Path(image.dataset.root) / image.rel_path, prediction.probability


def test_ensembles_score_new_images_everywhere(ensemble_home: dict, tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    ensembles = sorted(ensemble_home["ensembles"].values())
    every_run = sorted([*ensemble_home["members"], *ensembles])
    # The Score page's run list and `cxr score`'s default: every scorable run.
    assert [run.id for run in runs.completed_runs()] == every_run

    source, evaluated = _val_image(ensembles[0])
    image = tmp_path / source.name
    image.write_bytes(source.read_bytes())
    assert cxr(["score", str(image), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)["results"][0]["scores"]
    assert [score["run_id"] for score in scores] == every_run
    by_run = {score["run_id"]: score for score in scores}
    # A scored upload gets exactly the ensemble's evaluation answer for the same pixels.
    assert by_run[ensembles[0]]["probability"] == pytest.approx(evaluated, abs=1e-5)

    assert cxr(["score", str(image), "--run", str(ensembles[1]), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)["results"][0]
    assert [score["run_id"] for score in result["scores"]] == [ensembles[1]]
    assert Path(result["scores"][0]["overlay"]).is_file()

    history = {entry.upload.id: entry.scores for entry in upload_db.upload_history()}
    assert set(ensembles) <= {score.run_id for score in history[result["upload_id"]]}

    upload_db.set_true_label(result["upload_id"], 1 if "PNEUMONIA" in str(source) else 0,
                             "analyst")
    assert cxr(["evaluate", str(ensembles[1]), "--uploads"]) == 0
    capsys.readouterr()
    with session_scope() as session:
        evaluation = session.scalars(select(Evaluation).where(
            Evaluation.run_id == ensembles[1]).order_by(Evaluation.id.desc())).first()
        assert evaluation.split == "external" and evaluation.status == "completed"
        assert evaluation.n_images == 1
