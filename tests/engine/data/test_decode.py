"""Decoding: allowed formats decode to one gray channel; everything else is a clear error."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.data.decode import DecodeError, decode_file
from tests.conftest import real_data_root


@pytest.fixture
def real_jpeg(tmp_path: Path) -> Path:
    source = sorted((real_data_root() / "NORMAL").iterdir())[0]
    target = tmp_path / source.name
    target.write_bytes(source.read_bytes())
    return target


def test_real_jpeg_decodes_to_gray(real_jpeg: Path) -> None:
    gray = decode_file(real_jpeg)
    assert gray.dtype == np.uint8 and gray.shape == (224, 224)
    assert gray.std() > 10  # an actual radiograph, not a blank


def test_png_decodes(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(path)
    assert decode_file(path)[0, 3] == 3


def test_truncated_jpeg_is_refused(real_jpeg: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.jpeg"
    truncated.write_bytes(real_jpeg.read_bytes()[: len(real_jpeg.read_bytes()) // 2])
    with pytest.raises(DecodeError, match="truncated.jpeg.*(truncated|corrupt)"):
        decode_file(truncated)


@pytest.mark.parametrize(("payload", "message"), [
    (b"", "empty file"),
    (b"hello, I am text pretending to be an image", "not a JPEG, PNG or DICOM"),
])
def test_non_images_are_refused(tmp_path: Path, payload: bytes, message: str) -> None:
    path = tmp_path / "fake.png"
    path.write_bytes(payload)
    with pytest.raises(DecodeError, match=message):
        decode_file(path)


@pytest.mark.parametrize("fmt", ["GIF", "TIFF", "BMP"])
def test_unsupported_formats_are_refused_by_content(tmp_path: Path, fmt: str) -> None:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(buffer, format=fmt)
    path = tmp_path / "renamed.png"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(DecodeError, match=f"unsupported format {fmt}"):
        decode_file(path)


def test_decompression_bomb_refused_before_decoding(tmp_path: Path) -> None:
    # A 20,000 x 20,000 PNG header: refused from its size alone.
    path = tmp_path / "bomb.png"
    Image.new("1", (20_000, 20_000)).save(path, optimize=True)
    with pytest.raises(DecodeError, match="(decompression bomb|pixel limit)"):
        decode_file(path)
