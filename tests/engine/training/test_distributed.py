"""torch.distributed with gloo on CPU: DDP training and sharded evaluation over 2 processes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from db.models import Epoch, Evaluation, Prediction, Run
from db.session import session_scope
from db.splits import split_images
from engine.evaluation.evaluate import evaluate_distributed, evaluate_run
from engine.training.train import TrainConfig, main


def _probabilities(evaluation_id: int) -> dict[int, float]:
    with session_scope() as session:
        return dict(session.execute(select(Prediction.image_id, Prediction.probability)
                                    .where(Prediction.evaluation_id == evaluation_id)).all())


def test_sharded_evaluation_matches_single_process(cxr_home: Path, real_subset: Path) -> None:
    run_id = main(TrainConfig(arch="small_cnn", data=str(real_subset), epochs=1, image_size=64,
                              batch_size=16))
    single = evaluate_run(run_id, "test")
    sharded = evaluate_distributed(run_id, "test", nproc=2)
    expected = {image.image_id for image in split_images(
        _scalar(select(Run.split_id)), "test")}
    one, two = _probabilities(single), _probabilities(sharded)
    assert set(one) == set(two) == expected  # no missing rows
    with session_scope() as session:  # and no duplicates
        assert session.scalar(select(func.count(Prediction.id)).where(
            Prediction.evaluation_id == sharded)) == len(expected)
        evaluation = session.get(Evaluation, sharded)
        assert evaluation.status == "completed" and evaluation.n_images == len(expected)
    np.testing.assert_allclose([two[i] for i in sorted(one)], [one[i] for i in sorted(one)],
                               atol=1e-5)


def test_ddp_training_over_two_processes(cxr_home: Path, real_subset: Path) -> None:
    run_id = main(TrainConfig(arch="small_cnn", data=str(real_subset), epochs=2, image_size=64,
                              batch_size=16), nproc=2)
    with session_scope() as session:
        run = session.get(Run, run_id)
        assert run.status == "completed" and run.config["nproc"] == 2
        assert sorted(session.scalars(select(Epoch.epoch).where(Epoch.run_id == run_id))) == [
            1, 2]
        for split in ("val", "test"):
            evaluation = session.scalar(select(Evaluation).where(
                Evaluation.run_id == run_id, Evaluation.split == split))
            expected = {i.image_id for i in split_images(run.split_id, split)}
            ids = session.scalars(select(Prediction.image_id).where(
                Prediction.evaluation_id == evaluation.id)).all()
            assert sorted(ids) == sorted(expected)


def _scalar(statement) -> object:  # noqa: ANN001
    with session_scope() as session:
        return session.scalar(statement)
