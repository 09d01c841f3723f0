"""Input checks: what is not a chest radiograph is refused unless forced.

Each refusal listed (a 1x1 PNG, a 4000x10 strip, a brain MR DICOM, a DICOM of another
body part) through the engine, the CLI and the Score page's callback over HTTP; the forced path
stores its scores with the flag and the reason; a training folder records such files as skipped.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select

from db.models import Image as ImageRow
from db.models import Upload, UploadScore
from db.session import session_scope
from engine.cli import main as cxr
from engine.data.decode import decode_image
from engine.data.input_checks import InputRefused, input_problems
from engine.inference.uploads import score_upload_bytes
from tests.dicom_fixtures import make_dicom, twelve_bit
from tests.score_server import data_url, live_dashboard, post_upload


def _png(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0]), dtype=np.uint8)).save(
        buffer, format="PNG")
    return buffer.getvalue()


def _radiograph(data_root: Path) -> np.ndarray:
    """A real chest film, as 12-bit values, for DICOM fixtures."""
    path = sorted((data_root / "NORMAL").iterdir())[0]
    gray = np.asarray(Image.open(path).convert("L").resize((256, 256)), dtype=np.uint8)
    return twelve_bit(gray)


@pytest.fixture(scope="module")
def bad_files(trained_home: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """name -> (path, words the refusal must contain), one per check."""
    folder = tmp_path_factory.mktemp("bad-inputs")
    pixels = _radiograph(trained_home["data"])
    (folder / "dot.png").write_bytes(_png((1, 1)))
    (folder / "strip.png").write_bytes(_png((4000, 10)))
    (folder / "wide.png").write_bytes(_png((700, 200)))
    make_dicom(folder / "brain-mr.dcm", pixels, bits_stored=12, modality="MR")
    make_dicom(folder / "knee.dcm", pixels, bits_stored=12, modality="DX", body_part="KNEE")
    return {
        "dot.png": (folder / "dot.png", "1x1 pixels is smaller than 64 px on a side"),
        "strip.png": (folder / "strip.png", "smaller than 64 px on a side"),
        "wide.png": (folder / "wide.png", "aspect ratio 3.5:1 (700x200 pixels) is beyond 3:1"),
        "brain-mr.dcm": (folder / "brain-mr.dcm", "DICOM Modality MR is not a radiograph"),
        "knee.dcm": (folder / "knee.dcm", "DICOM BodyPartExamined KNEE is not the chest"),
    }


@pytest.fixture(scope="module")
def good_jpeg(trained_home: dict) -> Path:
    return sorted((trained_home["data"] / "PNEUMONIA").iterdir())[5]


def _counts() -> tuple[int, int, int]:
    with session_scope() as session:
        return (session.scalar(select(func.count()).select_from(Upload)),
                session.scalar(select(func.count()).select_from(UploadScore)),
                session.scalar(select(func.count()).select_from(UploadScore)
                               .where(UploadScore.forced.is_(True))))


def test_checks_pass_real_films_and_chest_dicom(trained_home: dict, tmp_path: Path,
                                                good_jpeg: Path) -> None:
    assert input_problems(decode_image(good_jpeg.read_bytes(), good_jpeg.name)) == []
    pixels = _radiograph(trained_home["data"])
    for modality, part in (("DX", "CHEST"), ("CR", None), ("DX", "thorax")):
        path = make_dicom(tmp_path / f"{modality}-{part}.dcm", pixels, bits_stored=12,
                          modality=modality, body_part=part)
        assert input_problems(decode_image(path.read_bytes(), path.name)) == []


def test_each_check_refuses_by_name_and_stores_nothing(trained_home: dict,
                                                       bad_files: dict) -> None:
    for name, (path, expected) in bad_files.items():
        before = _counts()
        with pytest.raises(InputRefused) as refused:
            score_upload_bytes(path.read_bytes(), name)
        message = str(refused.value)
        assert message.startswith(f"{name}: refused") and expected in message, message
        assert "--force" in message and "Score anyway" in message
        assert _counts() == before, f"{name} stored something"


def test_cli_refuses_then_force_stores_flag_and_reason(trained_home: dict, bad_files: dict,
                                                       good_jpeg: Path, capsys) -> None:  # noqa: ANN001
    run_id = trained_home["run_ids"][0]
    files = [str(path) for path, _ in bad_files.values()]
    before = _counts()
    assert cxr(["score", *files, str(good_jpeg), "--run", str(run_id), "--json"]) == 2
    report = json.loads(capsys.readouterr().out)
    assert [error["file"] for error in report["errors"]] == files
    for error, (_, expected) in zip(report["errors"], bad_files.values(), strict=True):
        assert expected in error["input_check"] and "refused" in error["error"]
    assert [result["file"] for result in report["results"]] == [str(good_jpeg)]
    assert report["results"][0]["forced"] is False
    assert _counts()[2] == before[2]  # the good file is not a forced score

    assert cxr(["score", *files, "--run", str(run_id), "--json", "--force"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["errors"] == []
    for result, (_, expected) in zip(report["results"], bad_files.values(), strict=True):
        assert result["forced"] is True and expected in result["input_check"]
        assert isinstance(result["scores"][0]["typicality"], float)
        assert isinstance(result["scores"][0]["outside_population"], bool)
    upload_ids = [result["upload_id"] for result in report["results"]]
    with session_scope() as session:
        rows = session.execute(select(Upload.id, Upload.input_check, UploadScore.forced)
                               .join(UploadScore, UploadScore.upload_id == Upload.id)
                               .where(Upload.id.in_(upload_ids))).all()
    assert {row.id for row in rows} == set(upload_ids) and len(set(upload_ids)) == len(files)
    assert all(row.forced and row.input_check for row in rows)

    # Plain text output says the score was forced, and why.
    assert cxr(["score", files[0], "--run", str(run_id), "--force"]) == 0
    out = capsys.readouterr().out
    assert "FORCED past the input check: 1x1 pixels is smaller than 64 px" in out


@pytest.fixture(scope="module")
def server(trained_home: dict) -> Iterator[str]:
    with live_dashboard() as url:
        yield url


def test_score_page_refuses_then_score_anyway_stores_forced(server: str, trained_home: dict,
                                                            bad_files: dict) -> None:
    path, expected = bad_files["brain-mr.dcm"]
    run_id = trained_home["run_ids"][1]
    before = _counts()
    response = post_upload(server, [data_url(path.read_bytes())], ["brain-mr.dcm"], [run_id])
    assert response.status_code == 200, response.text[:300]
    body = json.dumps(response.json())
    assert "score-error" in body and "brain-mr.dcm: refused" in body and expected in body
    assert "score-probability" not in body and _counts() == before

    response = post_upload(server, [data_url(path.read_bytes())], ["brain-mr.dcm"], [run_id],
                           force=True)
    assert response.status_code == 200, response.text[:300]
    body = json.dumps(response.json())
    assert "score-probability" in body and "score-forced" in body and expected in body
    after = _counts()
    assert after[1] == before[1] + 1 and after[2] == before[2] + 1


def test_training_folder_records_refused_images_as_skipped(tmp_path: Path, cxr_home: Path,
                                                           real_subset: Path) -> None:
    from engine.data.discover import ingest

    root = tmp_path / "data"
    for class_name in ("NORMAL", "PNEUMONIA"):
        (root / class_name).mkdir(parents=True)
        for source in sorted((real_subset / class_name).iterdir())[:3]:
            (root / class_name / source.name).write_bytes(source.read_bytes())
    (root / "NORMAL" / "strip.png").write_bytes(_png((4000, 10)))
    report = ingest(root)
    assert report.total == 7 and len(report.skipped_files) == 1
    rel_path, reason = report.skipped_files[0]
    assert rel_path == "NORMAL/strip.png" and "smaller than 64 px on a side" in reason
    with session_scope() as session:
        statuses = dict(session.execute(select(ImageRow.rel_path, ImageRow.status)).all())
    assert statuses.pop("NORMAL/strip.png") == "skipped"
    assert set(statuses.values()) == {"ok"}
