"""Every `CXR_*` environment variable, declared once with its type, default and meaning.

Callers read `settings.CXR_HOME.get()`; nothing else reads `os.environ` for a `CXR_*` name, and
nothing writes one to pass a value along (values are passed as arguments). The declarations live
in db/ because every layer reads them and db/ imports no other package of ours;
engine/settings.py re-exports them as the engine's settings.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from db.errors import UserError

T = TypeVar("T")


def flag(value: str) -> bool:
    """"1", "true" or "yes" (any case) is on; anything else is off."""
    return value.strip().lower() in ("1", "true", "yes")


def positive_megabytes(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError("is not a number of megabytes") from None
    if not math.isfinite(number) or number <= 0:
        raise ValueError("must be a positive, finite number")
    return number


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One environment variable: `get()` is its parsed value, or `default` when unset or empty."""

    name: str
    type: Callable[[str], T]
    default: T | None
    doc: str

    def raw(self) -> str | None:
        """The value as set, or None when unset or empty."""
        return os.environ.get(self.name) or None

    def get(self) -> T | None:
        """The parsed value; a value that does not parse is a UserError naming it."""
        raw = self.raw()
        if raw is None:
            return self.default
        try:
            return self.type(raw)
        except ValueError as exc:
            raise UserError(f"{self.name}={raw!r} {exc}") from None


CXR_HOME = Setting("CXR_HOME", Path, Path("~/.cxr"),
                   "Folder holding cxr.db (SQLite), artifacts/ and cache/.")
CXR_DATABASE_URL = Setting("CXR_DATABASE_URL", str, None,
                           "SQLAlchemy URL of another database (default: SQLite in CXR_HOME).")
CXR_DATA = Setting("CXR_DATA", str, None,
                   "Dataset root used when a command is given no --data.")
CXR_DEVICE = Setting("CXR_DEVICE", str, None,
                     "Default --device: auto | cpu | cuda | cuda:N (unset: auto).")
CXR_MAX_UPLOAD_MB = Setting("CXR_MAX_UPLOAD_MB", positive_megabytes, 20.0,
                            "Largest upload accepted, in megabytes.")
CXR_NO_PROGRESS = Setting("CXR_NO_PROGRESS", flag, False,
                          "1: no progress bars (CI, logs).")
CXR_SECRET_KEY = Setting("CXR_SECRET_KEY", str, None,
                         "Key signing dashboard sessions (default: generated into CXR_HOME).")
CXR_SESSION_HOURS = Setting("CXR_SESSION_HOURS", float, 12.0,
                            "Hours a dashboard session lasts.")
CXR_HTTPS = Setting("CXR_HTTPS", flag, False,
                    "1: the dashboard is served over HTTPS (Secure session cookie).")
CXR_NIH = Setting("CXR_NIH", Path, None,
                  "The external NIH sample (tests and bench; default: beside CXR_DATA).")
CXR_BENCH_POSTGRES_URL = Setting("CXR_BENCH_POSTGRES_URL", str, None,
                                 "Admin URL of a PostgreSQL server the benches may use.")
CXR_BENCH_PG_PORT = Setting("CXR_BENCH_PG_PORT", int, 55433,
                            "Port of the benches' private PostgreSQL cluster.")

ALL = tuple(value for value in dict(globals()).values() if isinstance(value, Setting))
