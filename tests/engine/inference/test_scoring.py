"""Live scoring on real trained runs: same answer as evaluation, warm cache, storage, CLI."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from db import uploads as upload_db
from db.models import Dataset, Evaluation, Image, Prediction, Upload, UploadScore
from db.session import session_scope
from db.uploads import StoredScore, disagreement
from engine.cli import main as cxr
from engine.data.decode import DecodeError, decode_bytes
from engine.inference.scoring import get_scorer
from engine.inference.uploads import (
    decode_data_url,
    decode_upload,
    pixels_png,
    read_upload_file,
    score_upload_bytes,
    score_uploads,
)


def _counts() -> tuple[int, int]:
    with session_scope() as session:
        return (session.scalar(select(func.count()).select_from(Upload)),
                session.scalar(select(func.count()).select_from(UploadScore)))


def _uploads_files(home: Path) -> set[Path]:
    folder = home / "artifacts" / "uploads"
    return set(folder.rglob("*")) if folder.exists() else set()


def _evaluated_image(run_id: int) -> tuple[str, float]:
    """A val image of the run and the probability its evaluation recorded."""
    with session_scope() as session:
        evaluation_id = session.scalar(select(Evaluation.id).where(
            Evaluation.run_id == run_id, Evaluation.status == "completed",
            Evaluation.split == "val").order_by(Evaluation.id.desc()))
        prediction = session.scalars(select(Prediction).where(
            Prediction.evaluation_id == evaluation_id).order_by(Prediction.id)).first()
        image = session.get(Image, prediction.image_id)
        root = session.get(Dataset, image.dataset_id).root
        return f"{root}/{image.rel_path}", prediction.probability


def test_score_matches_evaluation_exactly(trained_home: dict) -> None:
    for run_id in trained_home["run_ids"]:
        path, evaluated = _evaluated_image(run_id)
        score = get_scorer(run_id).score(path)
        assert score.probability == pytest.approx(evaluated, abs=1e-5)
        assert score.predicted_label == int(score.probability >= score.threshold)
        assert score.cam.shape == score.gray.shape and 0 <= score.cam.min() <= score.cam.max() <= 1
        assert score.overlay().shape == (224, 224, 3)


def test_models_are_loaded_once_and_kept_warm(trained_home: dict) -> None:
    run_id = trained_home["run_ids"][0]
    assert get_scorer(run_id) is get_scorer(run_id)


def test_upload_stored_by_generated_id_and_deduplicated(trained_home: dict) -> None:
    home = trained_home["home"]
    source = sorted((trained_home["data"] / "NORMAL").iterdir())[3]
    data = source.read_bytes()
    decoded = decode_upload(data, "../../etc/passwd.jpeg")
    first = score_uploads([decoded])[0]
    stored = home / "artifacts" / first.upload.stored_path
    # Stored as the decoded pixels only: a PNG, never the bytes as uploaded.
    assert stored.is_file() and stored.suffix == ".png" and first.upload.file_format == "PNG"
    assert stored.read_bytes() == pixels_png(decode_bytes(data, "x"))
    assert decoded.uploaded_format == "JPEG"
    assert first.upload.sha256 == hashlib.sha256(stored.read_bytes()).hexdigest()
    assert stored.parent == home / "artifacts" / "uploads"
    assert "passwd" not in first.upload.stored_path and len(stored.stem) == 32
    assert [s.run_id for s in first.scores] == sorted(trained_home["run_ids"])
    for score in first.scores:
        assert (home / "artifacts" / score.cam_path).is_file()
        assert score.inference_ms > 0
    before = {p for p in _uploads_files(home) if p.parent.name == "uploads"}
    second = score_upload_bytes(data, "same-file-another-name.jpg")
    assert second.upload.id == first.upload.id
    assert second.upload.stored_path == first.upload.stored_path
    assert {p for p in _uploads_files(home) if p.parent.name == "uploads"} == before
    history = {entry.upload.id: entry.scores for entry in upload_db.upload_history()}
    assert len(history[first.upload.id]) == len(trained_home["run_ids"])  # latest per run


def test_one_stored_score_type_from_the_store_to_the_page(trained_home: dict) -> None:
    """What scoring returns and what the Score page's history reads are one type, equal field
    for field: the page and `cxr score` show the stored values, not a copy made on the way."""
    source = sorted((trained_home["data"] / "NORMAL").iterdir())[4]
    scored = score_upload_bytes(source.read_bytes(), "one-type.jpeg")
    history = {entry.upload.id: entry for entry in upload_db.upload_history()}[scored.upload.id]
    assert type(scored) is type(history) is upload_db.ScoredUpload
    assert {type(score) for score in (*scored.scores, *history.scores)} == {StoredScore}
    assert history.upload == scored.upload
    assert history.scores == scored.scores  # each run's latest: the ones just stored


@pytest.mark.parametrize("payload", [b"", b"just text", b"\xff\xd8\xff\xe0trunc", b"GIF89a.."])
def test_bad_upload_stores_nothing(trained_home: dict, payload: bytes) -> None:
    counts, files = _counts(), _uploads_files(trained_home["home"])
    with pytest.raises(DecodeError, match="bad.png: "):
        score_upload_bytes(payload, "bad.png")
    assert _counts() == counts and _uploads_files(trained_home["home"]) == files


def test_size_limit_is_configurable(trained_home: dict, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    source = sorted((trained_home["data"] / "NORMAL").iterdir())[0]
    monkeypatch.setenv("CXR_MAX_UPLOAD_MB", "0.001")
    with pytest.raises(DecodeError, match="over the 0.001 MB upload limit"):
        read_upload_file(source)
    with pytest.raises(DecodeError, match="over the 0.001 MB upload limit"):
        score_upload_bytes(source.read_bytes(), "big.jpeg")
    with pytest.raises(DecodeError, match="not valid base64"):
        decode_data_url("data:image/png;base64,@@@notbase64", "x.png")


def test_disagreement_is_sides_of_thresholds() -> None:
    def score(probability: float, threshold: float) -> StoredScore:
        return StoredScore(1, 1, 1, "r", probability, int(probability >= threshold), threshold,
                           None, 1.0, datetime(2024, 1, 1))

    assert not disagreement([score(0.6, 0.5), score(0.4, 0.3)])  # both PNEUMONIA
    assert disagreement([score(0.6, 0.5), score(0.6, 0.7)])


def test_cli_scores_good_files_and_reports_bad_ones(trained_home: dict, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    good = sorted((trained_home["data"] / "PNEUMONIA").iterdir())[5]
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text = tmp_path / "text.png"
    text.write_text("hello")
    missing = tmp_path / "missing.jpeg"
    folder = tmp_path / "folder"
    folder.mkdir()
    pipe = tmp_path / "pipe.jpeg"
    os.mkfifo(pipe)
    code = cxr(["score", str(empty), str(good), str(text), str(missing), str(folder), str(pipe),
                "--json"])
    out, err = capsys.readouterr()
    assert code == 2
    assert f"cxr: error: {folder}: is a folder; pass the image files in it" in err
    assert f"cxr: error: {pipe}: not a regular file" in err
    assert f"cxr: error: {empty}: empty file" in err
    assert f"cxr: error: {text}: not a JPEG, PNG or DICOM" in err
    assert f"cxr: error: {missing}: no such file" in err
    assert "Traceback" not in err
    report = json.loads(out)
    assert [r["file"] for r in report["results"]] == [str(good)]
    scores = report["results"][0]["scores"]
    assert len(scores) == 2 and all(Path(s["overlay"]).is_file() for s in scores)

    run_id = trained_home["run_ids"][1]
    assert cxr(["score", str(good), "--run", str(run_id)]) == 0
    out, _ = capsys.readouterr()
    assert f"run {run_id}" in out and "P(pneumonia)=" in out and "overlay" in out
    assert cxr(["score", str(good), "--run", "999"]) == 2
    assert "run(s) 999 cannot score: only completed runs" in capsys.readouterr().err


def test_labelled_uploads_evaluate_as_external_dataset(trained_home: dict,
                                                       capsys: pytest.CaptureFixture) -> None:
    labelled = []
    for label, folder in enumerate(("NORMAL", "PNEUMONIA")):
        for source in sorted((trained_home["data"] / folder).iterdir())[10:13]:
            result = score_upload_bytes(source.read_bytes(), source.name)
            upload_db.set_true_label(result.upload.id, label, "analyst")
            labelled.append(result.upload.id)
    run_id = trained_home["run_ids"][0]
    assert cxr(["evaluate", str(run_id), "--uploads"]) == 0
    capsys.readouterr()
    with session_scope() as session:
        evaluation = session.scalars(select(Evaluation).where(
            Evaluation.run_id == run_id).order_by(Evaluation.id.desc())).first()
        assert evaluation.split == "external" and evaluation.status == "completed"
        n_labelled = session.scalar(select(func.count()).select_from(Upload).where(
            Upload.true_label.is_not(None)))
        assert evaluation.n_images == n_labelled >= len(labelled)
    upload_db.set_true_label(labelled[0], None, "analyst")  # clearing a label drops it
    assert cxr(["evaluate", str(run_id), "--uploads"]) == 0
    capsys.readouterr()
    with session_scope() as session:
        latest = session.scalars(select(Evaluation).where(
            Evaluation.run_id == run_id).order_by(Evaluation.id.desc())).first()
        assert latest.n_images == n_labelled - 1
