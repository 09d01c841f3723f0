"""DICOM decoding done right, checked on files made with pydicom from real radiographs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGLSLossless, RLELossless

from engine.data.decode import DecodeError, decode_file
from engine.data.pixels import load_gray
from tests.conftest import real_data_root
from tests.dicom_fixtures import make_dicom, twelve_bit


@pytest.fixture(scope="module")
def radiograph() -> np.ndarray:
    source = sorted((real_data_root() / "PNEUMONIA").iterdir())[0]
    return load_gray(source, 128)


def test_monochrome1_twin_gives_the_same_probability(tmp_path: Path, radiograph: np.ndarray,
                                                     trained_home: dict) -> None:
    from engine.inference.scoring import get_scorer

    stored = twelve_bit(radiograph)
    normal = make_dicom(tmp_path / "m2.dcm", stored, "MONOCHROME2", bits_stored=12)
    twin = make_dicom(tmp_path / "m1.dcm", (4095 - stored).astype(np.uint16), "MONOCHROME1",
                      bits_stored=12)
    assert np.array_equal(decode_file(normal), decode_file(twin))
    for run_id in trained_home["run_ids"]:
        scorer = get_scorer(run_id)
        assert scorer.score(normal).probability == pytest.approx(
            scorer.score(twin).probability, abs=1e-6)
    # And the 12-bit DICOM keeps the radiograph's look (stretched to its own min..max).
    decoded = decode_file(normal).astype(float).ravel()
    assert np.corrcoef(decoded, radiograph.astype(float).ravel())[0, 1] > 0.999


def test_twelve_bit_with_rescale_and_window_decodes_to_expected_range(tmp_path: Path) -> None:
    stored = np.arange(4096, dtype=np.uint16).reshape(64, 64)  # every 12-bit value once
    path = make_dicom(tmp_path / "ct-like", stored, bits_stored=12, rescale=(1.0, -1024.0),
                      window=(40.0, 400.0))
    gray = decode_file(path).astype(int).ravel()
    units = stored.ravel().astype(int) - 1024  # modality LUT first
    low, high = 40 - 200, 40 + 200  # then the window
    assert gray.min() == 0 and gray.max() == 255
    assert (gray[units <= low - 1] == 0).all()
    assert (gray[units >= high] == 255).all()
    inside = (units > low + 2) & (units < high - 2)
    expected = (units[inside] - low) / (high - low) * 255
    assert np.abs(gray[inside] - expected).max() <= 2
    assert gray[units == 40][0] == pytest.approx(127.5, abs=2)  # window centre -> mid gray


def test_signed_sixteen_bit_uses_its_full_range(tmp_path: Path) -> None:
    stored = np.linspace(-2000, 3000, 64 * 64).astype(np.int16).reshape(64, 64)
    gray = decode_file(make_dicom(tmp_path / "signed.dcm", stored, signed=True))
    assert gray[0, 0] == 0 and gray[-1, -1] == 255
    assert np.all(np.diff(gray.ravel().astype(int)) >= 0)  # order kept: no wrap-around


def test_compressed_syntax_without_decoder_names_it(tmp_path: Path,
                                                    radiograph: np.ndarray) -> None:
    path = make_dicom(tmp_path / "jls.dcm", radiograph)
    ds = dcmread(path)
    ds.file_meta.TransferSyntaxUID = JPEGLSLossless
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xf7 not really JPEG-LS"])
    ds.save_as(path)
    with pytest.raises(DecodeError, match=r"jls.dcm: unsupported compression: JPEG-LS Lossless"
                                          r".*, install .*pip install"):
        decode_file(path)


def test_compressed_syntax_with_decoder_decodes(tmp_path: Path, radiograph: np.ndarray) -> None:
    plain = make_dicom(tmp_path / "plain.dcm", twelve_bit(radiograph), bits_stored=12)
    ds = dcmread(plain)
    ds.compress(RLELossless)  # pydicom's own RLE codec: always installed
    ds.save_as(tmp_path / "rle.dcm")
    assert np.array_equal(decode_file(tmp_path / "rle.dcm"), decode_file(plain))


def test_no_pixel_data_is_a_clear_error(tmp_path: Path) -> None:
    path = make_dicom(tmp_path / "report.dcm", None)
    with pytest.raises(DecodeError, match="report.dcm: DICOM file has no pixel data"):
        decode_file(path)


def test_non_dicom_named_dcm_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.dcm"
    path.write_text("patient notes, definitely not an image\n" * 10)
    with pytest.raises(DecodeError, match="notes.dcm: not a JPEG, PNG or DICOM"):
        decode_file(path)


def test_dicom_without_preamble_is_not_forced(tmp_path: Path, radiograph: np.ndarray) -> None:
    path = make_dicom(tmp_path / "raw.dcm", radiograph, preamble=False)
    with pytest.raises(DecodeError, match="raw.dcm: not a JPEG, PNG or DICOM"):
        decode_file(path)


def test_huge_dicom_refused_before_pixel_decode(tmp_path: Path) -> None:
    path = make_dicom(tmp_path / "huge.dcm", np.zeros((4, 4), np.uint8))
    ds = dcmread(path)
    ds.Rows = ds.Columns = 20_000  # the header claims 400 megapixels
    ds.save_as(path)
    with pytest.raises(DecodeError, match="20000x20000 pixels is over"):
        decode_file(path)


def test_dicom_with_no_extension_scores_and_no_tag_reaches_a_path(
        tmp_path: Path, radiograph: np.ndarray, trained_home: dict) -> None:
    from engine.inference.uploads import score_upload_bytes

    evil = "../../../../tmp/evil^name"
    path = make_dicom(tmp_path / "IM000123", twelve_bit(radiograph), bits_stored=12,
                      patient_name=evil)
    result = score_upload_bytes(path.read_bytes(), "IM000123")
    assert result.upload.file_format == "DICOM"
    assert len(result.scores) == len(trained_home["run_ids"])
    stored = [result.upload.stored_path] + [score.cam_path for score in result.scores]
    sop_uid = str(dcmread(path).SOPInstanceUID)
    for relative in stored:
        assert "evil" not in relative and "IM000123" not in relative and sop_uid not in relative
        assert relative.startswith("uploads/")
        assert (trained_home["home"] / "artifacts" / relative).is_file()
    assert not list(Path("/tmp").glob("evil*"))
