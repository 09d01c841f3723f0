"""Feature maps and look-alikes on real images: trained_home's small-CNN runs (and
quality_home's ensemble), checked against what the stored features and the model give."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

from db import evaluations, feature_map, runs
from db.session import artifacts_root
from db.splits import split_images
from engine.evaluation.feature_map import FeatureFile, evaluation_features
from engine.inference.lookalikes import lookalikes_of_image, run_index
from tests.conftest import point_at, run_lacking


@pytest.fixture
def trained(monkeypatch: pytest.MonkeyPatch, trained_home: dict, trained_url: str | None):
    point_at(monkeypatch, trained_home["home"], trained_url)
    return trained_home


def test_each_evaluation_keeps_float16_features_and_its_pca_map(trained: dict) -> None:
    run_id = trained["run_ids"][0]
    for split in ("val", "test"):
        evaluation_id = evaluations.evaluation_id_for(run_id, split)
        info = feature_map.feature_map(evaluation_id)
        stored = evaluation_features(evaluation_id)
        frame = feature_map.map_frame(evaluation_id)
        probability = evaluations.evaluation_rows(evaluation_id).probability
        assert info.method == "pca" and info.n_images == len(probability) == len(frame)
        assert stored.features.dtype == np.float16 and stored.features.shape[1] == info.dims
        assert sorted(stored.image_ids) == sorted(frame.image_id)
        # The stored points are the first two principal components of the stored features
        # (up to each axis's sign).
        expected = PCA(2, random_state=0).fit_transform(stored.features.astype(np.float32))
        by_id = frame.set_index("image_id").loc[stored.image_ids, ["x", "y"]].to_numpy()
        for axis in range(2):
            assert np.allclose(np.abs(by_id[:, axis]), np.abs(expected[:, axis]), atol=1e-4)
        # The map's probabilities are the evaluation's predictions.
        assert np.allclose(np.sort(frame.probability), np.sort(probability))


def test_lookalike_index_holds_the_train_split_with_the_runs_own_probability(
        trained: dict) -> None:
    from engine.inference.predictor import predictor_for

    run = runs.get_run(trained["run_ids"][1])
    info = feature_map.lookalike_index(run.id)
    index = FeatureFile.load(artifacts_root() / info.path)
    train = split_images(run.split_id, "train")
    assert sorted(index.image_ids) == sorted(image.image_id for image in train)
    labels = {image.image_id: image.label for image in train}
    assert [labels[int(i)] for i in index.image_ids] == index.label.tolist()
    # The features-only pass gives what evaluation's Grad-CAM pass gives for the same pixels.
    from engine.data.pixels import load_store

    paths = {image.image_id: image.path for image in train}
    first = [int(i) for i in index.image_ids[:6]]
    pixels, _ = load_store([paths[i] for i in first], int(run.config["image_size"]))
    predictor = predictor_for(run, "cpu")
    try:
        probability, _cams, _typicality = predictor.explain_full(pixels)
        features = predictor.last_features
    finally:
        predictor.close()
    assert np.allclose(index.probability[:6], probability, atol=1e-5)
    assert np.allclose(index.features[:6].astype(np.float32), features, atol=2e-3, rtol=2e-3)


def test_lookalikes_are_the_exact_nearest_training_images(trained: dict) -> None:
    run_id = trained["run_ids"][0]
    run = runs.get_run(run_id)
    evaluation_id = evaluations.evaluation_id_for(run_id, "test")
    stored = evaluation_features(evaluation_id)
    index = run_index(run_id)
    search = NearestNeighbors(n_neighbors=8).fit(index.features)
    for row in range(3):
        image_id = int(stored.image_ids[row])
        found = lookalikes_of_image(run_id, evaluation_id, image_id)
        distances, rows = search.kneighbors(stored.features[row:row + 1].astype(np.float32))
        assert [item.image_id for item in found] == [int(index.image_ids[r]) for r in rows[0]]
        assert np.allclose([item.distance for item in found], distances[0], atol=1e-3)
        for item in found:
            assert item.correct == ((item.probability >= run.threshold) == bool(item.true_label))
            assert item.image_id != image_id


def test_cli_map_and_lookalikes(trained: dict, tmp_path, capsys) -> None:  # noqa: ANN001
    from engine.cli.main import main

    run_id = trained["run_ids"][0]
    evaluation_id = evaluations.evaluation_id_for(run_id, "test")
    image_id = int(evaluation_features(evaluation_id).image_ids[0])
    assert main(["map", str(run_id), "--csv", str(tmp_path / "map.csv")]) == 0
    lines = (tmp_path / "map.csv").read_text().splitlines()
    assert lines[0].startswith("image_id,x,y,probability")
    assert len(lines) - 1 == feature_map.feature_map(evaluation_id).n_images
    capsys.readouterr()
    assert main(["lookalikes", str(run_id), str(image_id), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)["lookalikes"]
    assert [item["image_id"] for item in shown] == [
        item.image_id for item in lookalikes_of_image(run_id, evaluation_id, image_id)]
    assert main(["lookalikes", str(run_id), "999999"]) == 2
    assert "image 999999 is on no feature map" in capsys.readouterr().err
    lacking = run_lacking("external", trained["run_ids"])
    assert main(["map", str(lacking), "--split", "external"]) == 2
    assert "--data DIR" in capsys.readouterr().err


def test_an_upload_scored_just_now_needs_no_second_pass_for_its_lookalikes(
        trained: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.inference.lookalikes import lookalikes_of_gray
    from engine.inference.scoring import Scorer

    run = runs.get_run(trained["run_ids"][0])
    gray = np.random.default_rng(3).integers(0, 256, (300, 260), dtype=np.uint8)
    fresh = Scorer(run, "cpu").features(gray)  # one features-only pass
    scorer = Scorer(run, "cpu")
    scorer.score(gray)

    def no_second_pass(batch: np.ndarray) -> None:
        raise AssertionError("a features-only pass for an image just scored")

    monkeypatch.setattr(scorer._explainer, "features_only", no_second_pass)
    assert np.allclose(scorer.features(gray), fresh, atol=1e-4)
    monkeypatch.setattr("engine.inference.scoring.get_scorer", lambda *_a, **_k: scorer)
    assert len(lookalikes_of_gray(run.id, gray)) == 8
