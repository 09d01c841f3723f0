"""Decode an image file to one grayscale uint8 channel.

JPEG and PNG go through Pillow with a format allow-list; DICOM goes through pydicom (modality
LUT, then VOI LUT or windowing, then MONOCHROME1 inversion). Anything else is refused with a
`DecodeError` whose message names the file and the reason, so callers can record it as skipped.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

ALLOWED_PIL_FORMATS = ("JPEG", "PNG")
# Refuse decompression bombs before decoding pixels: a chest film is far below 50 megapixels.
MAX_PIXELS = 50_000_000
DICOM_MAGIC_OFFSET = 128
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".dcm", ".dicom"}

# A truncated JPEG must fail, not be silently padded with grey.
ImageFile.LOAD_TRUNCATED_IMAGES = False


class DecodeError(ValueError):
    """A file that cannot be used as an X-ray; the message says which file and why."""


def is_dicom(head: bytes) -> bool:
    return len(head) >= DICOM_MAGIC_OFFSET + 4 and head[128:132] == b"DICM"


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


def decode_file(path: str | Path) -> np.ndarray:
    """Decode `path` to a 2-D uint8 array (grayscale)."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(DICOM_MAGIC_OFFSET + 4)
    except OSError as exc:
        raise DecodeError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
    return decode_bytes_head(path, head)


def decode_bytes_head(path: Path, head: bytes) -> np.ndarray:
    if not head:
        raise DecodeError(f"{path.name}: empty file (0 bytes); upload a JPEG, PNG or DICOM image")
    if is_dicom(head):
        return decode_dicom(path)
    kind = _sniff_format(head)
    if kind is None:
        raise DecodeError(
            f"{path.name}: not a JPEG, PNG or DICOM image (unrecognised content); "
            "supply a JPEG, PNG or DICOM file"
        )
    if kind not in ALLOWED_PIL_FORMATS:
        raise DecodeError(
            f"{path.name}: unsupported format {kind} (the file content is {kind}, whatever its "
            "name says); convert it to PNG, JPEG or DICOM"
        )
    return decode_pil(path)


def decode_pil(path: Path) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=ALLOWED_PIL_FORMATS) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise DecodeError(
                        f"{path.name}: {width}x{height} pixels is over the {MAX_PIXELS:,} pixel "
                        "limit (possible decompression bomb); downscale it before uploading"
                    )
                image.load()
                gray = image.convert("L")
                return np.asarray(gray, dtype=np.uint8).copy()
    except DecodeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DecodeError(f"{path.name}: too many pixels (possible decompression bomb)") from exc
    except UnidentifiedImageError as exc:
        raise DecodeError(f"{path.name}: not a readable JPEG or PNG image") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise DecodeError(f"{path.name}: corrupt or truncated image ({exc})") from exc


def decode_dicom(path: Path) -> np.ndarray:
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        dataset = pydicom.dcmread(path)
    except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
        raise DecodeError(f"{path.name}: not a valid DICOM file ({exc})") from exc
    if "PixelData" not in dataset:
        raise DecodeError(f"{path.name}: DICOM file has no pixel data (is it an image?)")
    try:
        pixels = dataset.pixel_array
    except (RuntimeError, NotImplementedError) as exc:
        syntax = getattr(dataset.file_meta, "TransferSyntaxUID", None)
        name = getattr(syntax, "name", syntax)
        raise DecodeError(
            f"{path.name}: unsupported compression: {name}, install a pixel data handler for it "
            "(for example `pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg` "
            "or `pip install python-gdcm`)"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for damaged pixel data
        raise DecodeError(f"{path.name}: DICOM pixel data cannot be decoded ({exc})") from exc
    if pixels.ndim == 3 and dataset.get("SamplesPerPixel", 1) == 1:
        pixels = pixels[0]  # multi-frame: the first frame
    if pixels.ndim != 2:
        raise DecodeError(f"{path.name}: expected a single grayscale frame, got {pixels.shape}")
    # Order matters: stored values -> modality units -> display window -> photometric sense.
    values = apply_modality_lut(pixels, dataset).astype(np.float64)
    values = apply_voi_lut(values, dataset, index=0)
    values = np.asarray(values, dtype=np.float64)
    low, high = float(values.min()), float(values.max())
    scaled = (values - low) / (high - low) if high > low else np.zeros_like(values)
    if dataset.get("PhotometricInterpretation", "MONOCHROME2") == "MONOCHROME1":
        scaled = 1.0 - scaled
    return np.round(scaled * 255.0).astype(np.uint8)


def resize(gray: np.ndarray, size: int) -> np.ndarray:
    """Square resize with antialiasing; the one resize used in training, evaluation and scoring."""
    if gray.shape == (size, size):
        return gray
    image = Image.fromarray(gray)
    return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)
