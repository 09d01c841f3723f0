"""The predictions file of a model trained elsewhere (`cxr import-predictions FILE.csv`).

A CSV with a header row. Columns (names case-insensitive, others ignored):
  path         the image's path relative to the dataset root (as `cxr ingest` registered it),
  sha256       or the image's content hash (hex): every registered image with that content;
               each row gives at least one of the two (path wins when both are given);
  probability  P(pneumonia) in [0, 1];
  threshold    optional: the model's operating threshold on P(pneumonia), the same on every row.
Line numbers in messages count the header as line 1.
"""

from __future__ import annotations

import csv
import hashlib
import math
import re
from dataclasses import dataclass
from pathlib import Path

from engine.errors import UserError

COLUMNS = ("path", "sha256", "probability", "threshold")
# Plain ASCII decimal or scientific notation: no "_" separators, no other scripts' digits.
NUMBER = re.compile(r"[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|nan|inf)",
                    re.IGNORECASE)  # nan and inf read, then refused as outside [0, 1]
FORMAT_HINT = ("columns: path (relative to the dataset root) or sha256, probability, "
               "optional threshold")


@dataclass(frozen=True)
class PredictionLine:
    """One data row of the file, checked: what it names and its probability."""

    line: int
    path: str | None
    sha256: str | None
    probability: float

    @property
    def names(self) -> str:
        return self.path if self.path else f"sha256 {self.sha256}"


@dataclass(frozen=True)
class PredictionsFile:
    name: str  # the file's name, never its folder
    sha256: str
    lines: list[PredictionLine]
    threshold: float | None  # None: the file gave none


def normalize_path(value: str) -> str:
    """The spelling `images.rel_path` uses: POSIX separators, no leading "./"."""
    path = value.strip().replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path


def _unit_interval(text: str, what: str, where: str) -> float:
    if not NUMBER.fullmatch(text):
        raise UserError(f"{where}: {what} {text!r} is not a plain number (digits 0-9, a '.', "
                        "optionally an exponent); give a value in [0, 1]")
    value = float(text)
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise UserError(f"{where}: {what} {text!r} is outside [0, 1]; give P(pneumonia) "
                        "between 0 and 1")
    return value


def _header(fields: list[str] | None, name: str) -> dict[str, str]:
    """Our column -> the file's spelling of it; a UserError when a required one is missing."""
    if not fields:
        raise UserError(f"{name}: empty file; expected a header row ({FORMAT_HINT})")
    names = [field.strip().lower() for field in fields if field]
    for column in COLUMNS:
        if names.count(column) > 1:
            raise UserError(f"{name}: duplicate {column} column in the header; keep one "
                            f"{column} column")
    found = {field.strip().lower(): field for field in fields if field}
    if "probability" not in found:
        raise UserError(f"{name}: no probability column (the header has "
                        f"{', '.join(fields)}); {FORMAT_HINT}")
    if "path" not in found and "sha256" not in found:
        raise UserError(f"{name}: neither a path nor a sha256 column (the header has "
                        f"{', '.join(fields)}); {FORMAT_HINT}")
    return {column: found[column] for column in COLUMNS if column in found}


def _cell(row: dict, columns: dict[str, str], column: str) -> str:
    return (row.get(columns[column]) or "").strip() if column in columns else ""


def _line(row: dict, columns: dict[str, str], where: str, number: int) -> PredictionLine:
    path = normalize_path(_cell(row, columns, "path")) or None
    digest = _cell(row, columns, "sha256").lower() or None
    if path is None and digest is None:
        raise UserError(f"{where}: names no image; give its path or its sha256")
    if digest is not None and path is None and (
            len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest)):
        raise UserError(f"{where}: sha256 {digest!r} is not 64 hex digits")
    text = _cell(row, columns, "probability")
    if not text:
        raise UserError(f"{where}: no probability; give P(pneumonia) in [0, 1]")
    return PredictionLine(number, path, digest, _unit_interval(text, "probability", where))


def read_predictions(csv_path: str | Path) -> PredictionsFile:
    """The checked rows of a predictions file; the first bad row is a one-line UserError."""
    path = Path(csv_path).expanduser()
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8-sig")
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path.name}: not UTF-8 text; save the CSV as UTF-8") from None
    reader = csv.DictReader(text.splitlines())
    columns = _header(reader.fieldnames, path.name)
    lines, threshold, threshold_line = [], None, 0
    for row in reader:
        number = reader.line_num
        where = f"{path.name}: line {number}"
        if None in row:  # more cells than the header names
            raise UserError(f"{where}: more cells than the header has columns")
        lines.append(_line(row, columns, where, number))
        given = _cell(row, columns, "threshold")
        if given:
            value = _unit_interval(given, "threshold", where)
            if threshold is not None and value != threshold:
                raise UserError(f"{where}: threshold {given} differs from {threshold} on line "
                                f"{threshold_line}; give one threshold for the whole file")
            threshold, threshold_line = value, number
    if not lines:
        raise UserError(f"{path.name}: no predictions after the header")
    return PredictionsFile(path.name, hashlib.sha256(raw).hexdigest(), lines, threshold)
