"""Decode an image file (or its bytes) to one grayscale uint8 channel.

JPEG and PNG go through Pillow with a format allow-list; DICOM goes through pydicom (modality
LUT, then VOI LUT or windowing, then MONOCHROME1 inversion). Anything else is refused with a
`DecodeError` whose message names the file and the reason, so callers can record it as skipped.
The format is detected from the content, never from the file name; no DICOM tag value is ever
used to build a path.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

ALLOWED_PIL_FORMATS = ("JPEG", "PNG")
# Refuse decompression bombs before decoding pixels: a chest film is far below 50 megapixels.
MAX_PIXELS = 50_000_000
DICOM_MAGIC_OFFSET = 128
HEAD_BYTES = DICOM_MAGIC_OFFSET + 4
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".dcm", ".dicom"}
# What the pip packages behind pydicom's decoder plugins are called.
_PIP_NAMES = {"gdcm": "python-gdcm", "numpy": None}

# A truncated JPEG must fail, not be silently padded with grey.
ImageFile.LOAD_TRUNCATED_IMAGES = False


class DecodeError(ValueError):
    """A file that cannot be used as an X-ray; the message says which file and why."""


@dataclass(frozen=True)
class DecodedImage:
    """Pixels and, for DICOM, the tags that say what the image is (from the same parse)."""

    gray: np.ndarray  # 2-D uint8
    file_format: str  # JPEG / PNG / DICOM
    modality: str | None = None  # DICOM Modality, e.g. "DX", "CR", "MR"
    body_part: str | None = None  # DICOM BodyPartExamined, when the file has it


def is_dicom(head: bytes) -> bool:
    return len(head) >= HEAD_BYTES and head[DICOM_MAGIC_OFFSET:HEAD_BYTES] == b"DICM"


def _sniff_format(head: bytes) -> str | None:
    signatures = {
        b"\x89PNG\r\n\x1a\n": "PNG",
        b"\xff\xd8\xff": "JPEG",
        b"GIF87a": "GIF",
        b"GIF89a": "GIF",
        b"II*\x00": "TIFF",
        b"MM\x00*": "TIFF",
        b"SIMPLE  =": "FITS",
        b"BM": "BMP",
        b"RIFF": "WEBP",
    }
    for magic, name in signatures.items():
        if head.startswith(magic):
            return name
    return None


def detect_format(head: bytes) -> str | None:
    """"DICOM", "PNG", "JPEG", another recognised format name, or None, from content alone."""
    return "DICOM" if is_dicom(head) else _sniff_format(head)


def decode_file(path: str | Path) -> np.ndarray:
    """Decode `path` to a 2-D uint8 array (grayscale)."""
    return decode_image_file(path).gray


def decode_bytes(data: bytes, name: str) -> np.ndarray:
    """Decode an image held in memory; `name` is used in messages only."""
    return decode_image(data, name).gray


def decode_image(data: bytes, name: str) -> DecodedImage:
    """Decode an image held in memory, with its DICOM Modality and BodyPartExamined."""
    kind = checked_format(data, name)
    if kind == "DICOM":
        return decode_dicom_image(data, name)
    return DecodedImage(decode_pil(data, name), kind)


def decode_image_file(path: str | Path) -> DecodedImage:
    """`decode_file`, with the DICOM tags of the same parse."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DecodeError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
    return decode_image(data, path.name)


def checked_format(data: bytes, name: str) -> str:
    """The format of `data` ("JPEG", "PNG" or "DICOM"), or a DecodeError saying why not."""
    head = data[:HEAD_BYTES]
    if not head:
        raise DecodeError(f"{name}: empty file (0 bytes); upload a JPEG, PNG or DICOM image")
    kind = detect_format(head)
    if kind is None:
        raise DecodeError(
            f"{name}: not a JPEG, PNG or DICOM image (unrecognised content); "
            "supply a JPEG, PNG or DICOM file"
        )
    if kind not in (*ALLOWED_PIL_FORMATS, "DICOM"):
        raise DecodeError(
            f"{name}: unsupported format {kind} (the file content is {kind}, whatever its "
            "name says); convert it to PNG, JPEG or DICOM"
        )
    return kind


def _too_many_pixels(name: str, width: int, height: int) -> DecodeError:
    return DecodeError(
        f"{name}: {width}x{height} pixels is over the {MAX_PIXELS:,} pixel limit (possible "
        "decompression bomb); downscale it before uploading")


def _png_header_size(data: bytes) -> tuple[int, int] | None:
    # IHDR is always the first chunk: width and height sit at bytes 16..24.
    if len(data) >= 24 and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    return None


def decode_pil(data: bytes, name: str) -> np.ndarray:
    size = _png_header_size(data)
    if size and size[0] * size[1] > MAX_PIXELS:
        raise _too_many_pixels(name, *size)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=ALLOWED_PIL_FORMATS) as image:
                width, height = image.size  # read from the header; no pixels decoded yet
                if width * height > MAX_PIXELS:
                    raise _too_many_pixels(name, width, height)
                image.load()
                gray = image.convert("L")
                return np.asarray(gray, dtype=np.uint8).copy()
    except DecodeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DecodeError(f"{name}: too many pixels (possible decompression bomb)") from exc
    except UnidentifiedImageError as exc:
        raise DecodeError(f"{name}: not a readable JPEG or PNG image") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise DecodeError(f"{name}: corrupt or truncated image ({exc})") from exc


def _install_hint(missing: list[str]) -> str:
    """pydicom's "plugin - requires a>=1 and b>=2" strings -> `pip install a b` choices."""
    commands = []
    for entry in missing:
        requirement = entry.split(" - requires ", 1)[-1]
        packages = []
        for spec in requirement.split(" and "):
            package = spec.split(">=")[0].split("==")[0].strip()
            package = _PIP_NAMES.get(package, package)
            if package:
                packages.append(package)
        if packages:
            commands.append("`pip install " + " ".join(packages) + "`")
    return " or ".join(commands)


def _check_decoder(dataset: object, name: str) -> None:
    """Refuse a compressed transfer syntax that no installed plugin can decode, up front."""
    from pydicom.pixels import get_decoder

    syntax = getattr(getattr(dataset, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is None or not syntax.is_compressed:
        return
    label = f"{syntax.name} ({syntax})"
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError as exc:
        raise DecodeError(
            f"{name}: unsupported compression: {label}; pydicom has no decoder to install for "
            "it, so convert the file to an uncompressed transfer syntax (for example with "
            "`gdcmconv --raw`)") from exc
    if not decoder.is_available:
        raise DecodeError(
            f"{name}: unsupported compression: {label}, install a decoder for it: "
            f"{_install_hint(decoder.missing_dependencies) or 'see pydicom documentation'}")


def _dicom_pixels(dataset: object, name: str) -> np.ndarray:
    rows, columns = int(dataset.get("Rows", 0)), int(dataset.get("Columns", 0))
    if rows * columns > MAX_PIXELS:
        raise _too_many_pixels(name, columns, rows)
    _check_decoder(dataset, name)
    try:
        return dataset.pixel_array
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for damaged pixel data
        raise DecodeError(f"{name}: DICOM pixel data cannot be decoded ({exc})") from exc


def _to_unit_range(values: np.ndarray, dataset: object) -> np.ndarray:
    """Modality values -> [0, 1] through the VOI LUT or window when the file has one.

    With a window the output range is the window's (pydicom maps below/above it to its y_min
    and y_max), found by passing two extreme values through the same function; without one,
    the image's own min..max is used.
    """
    from pydicom.pixels import apply_voi_lut

    has_voi = "WindowCenter" in dataset or "VOILUTSequence" in dataset
    if has_voi:
        values = np.asarray(apply_voi_lut(values, dataset, index=0), dtype=np.float64)
        probe = np.asarray(apply_voi_lut(np.array([-1e12, 1e12]), dataset, index=0),
                           dtype=np.float64)
        low, high = float(probe.min()), float(probe.max())
    else:
        low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros_like(values)
    return np.clip((values - low) / (high - low), 0.0, 1.0)


def _text_tag(dataset: object, keyword: str) -> str | None:
    value = str(dataset.get(keyword, "") or "").strip()
    return value or None


def decode_dicom_image(data: bytes, name: str) -> DecodedImage:
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.pixels import apply_modality_lut

    try:
        # No force=True: a file without the DICM preamble is not treated as DICOM.
        dataset = pydicom.dcmread(io.BytesIO(data))
    except (InvalidDicomError, OSError, ValueError, EOFError, KeyError) as exc:
        raise DecodeError(f"{name}: not a valid DICOM file ({exc})") from exc
    if "PixelData" not in dataset:
        raise DecodeError(
            f"{name}: DICOM file has no pixel data (a report or other non-image object?); "
            "upload a DICOM image")
    pixels = _dicom_pixels(dataset, name)
    if pixels.ndim == 3 and dataset.get("SamplesPerPixel", 1) == 1:
        pixels = pixels[0]  # multi-frame: the first frame
    if pixels.ndim != 2:
        raise DecodeError(f"{name}: expected a single grayscale frame, got {pixels.shape}")
    # Order matters: stored values -> modality units -> display window -> photometric sense.
    try:
        values = np.asarray(apply_modality_lut(pixels, dataset), dtype=np.float64)
        scaled = _to_unit_range(values, dataset)
    except (ValueError, TypeError, IndexError) as exc:
        raise DecodeError(f"{name}: DICOM LUT or window attributes are invalid ({exc})") from exc
    if dataset.get("PhotometricInterpretation", "MONOCHROME2") == "MONOCHROME1":
        scaled = 1.0 - scaled
    return DecodedImage(np.round(scaled * 255.0).astype(np.uint8), "DICOM",
                        _text_tag(dataset, "Modality"), _text_tag(dataset, "BodyPartExamined"))


def resize(gray: np.ndarray, size: int) -> np.ndarray:
    """Square resize with antialiasing; the one resize used in training, evaluation and scoring."""
    if gray.shape == (size, size):
        return gray
    image = Image.fromarray(gray)
    return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)
