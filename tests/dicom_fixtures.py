"""DICOM files made with pydicom for the scoring tests (no DICOM data is shipped)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid


def make_dicom(path: Path, pixels: np.ndarray | None, photometric: str = "MONOCHROME2",
               bits_stored: int | None = None, signed: bool = False,
               rescale: tuple[float, float] | None = None,
               window: tuple[float, float] | None = None,
               patient_name: str = "Test^Patient", preamble: bool = True,
               modality: str = "DX", body_part: str | None = None) -> Path:
    """Write a single-frame grayscale DICOM file. `rescale` is (slope, intercept)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = patient_name
    ds.PatientID = patient_name
    ds.Modality = modality
    if body_part is not None:
        ds.BodyPartExamined = body_part
    if pixels is not None:
        bits_allocated = 8 if pixels.dtype.itemsize == 1 else 16
        ds.Rows, ds.Columns = pixels.shape
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = photometric
        ds.BitsAllocated = bits_allocated
        ds.BitsStored = bits_stored or bits_allocated
        ds.HighBit = ds.BitsStored - 1
        ds.PixelRepresentation = 1 if signed else 0
        ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    if rescale is not None:
        ds.RescaleSlope, ds.RescaleIntercept = rescale
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    ds.save_as(path, enforce_file_format=preamble)
    return path


def twelve_bit(gray: np.ndarray) -> np.ndarray:
    """An 8-bit gray image spread over 12 bits, stored in 16."""
    return (gray.astype(np.uint16) * 16 + 8).astype(np.uint16)
