"""Files beside the database (checkpoints, uploads, caches, thumbnails): written whole or not at
all.

It lives in db/ because db/ owns where the stored files are (`session.artifacts_root`,
`session.cxr_home`) and is the one layer both engine/ and dashboard/ may import.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from db.errors import UserError

KEY_HEX_CHARS = 64
Writer = Callable[[BinaryIO], object]  # e.g. lambda out: torch.save(state, out)


def atomic_write(path: Path, content: bytes | Writer, mode: int | None = None) -> None:
    """Write `path` whole or not at all: `content` (bytes, or a writer given an open binary file)
    goes into a temporary file of its own in the same folder, is flushed to disk, then renamed
    over `path`. A crash mid-write leaves the old file (or none) and no temporary; concurrent
    writers each rename a whole file of their own, so a reader never sees a torn one. `mode`
    (e.g. 0o600) sets the file's permissions from its creation on; None: the umask applies."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A name of its own per writer, never reused.
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        descriptor = os.open(temporary, flags, 0o666 if mode is None else mode)
        if mode is not None:
            os.fchmod(descriptor, mode)  # exactly `mode`, whatever the umask
        with os.fdopen(descriptor, "wb") as out:
            if callable(content):
                content(out)
            else:
                out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


def export_path(value: str | Path, option: str) -> Path:
    """Where a command may write a file the user asked for (`cxr report -o`, `cxr map --csv`):
    an ordinary file (an existing one is replaced, the usual `-o` way) in an existing folder,
    never inside CXR_HOME (the database, keys, artifacts, cache) nor the database file. A
    UserError naming the path and `option` otherwise."""
    from db.session import cxr_home, database_url

    path = Path(value).expanduser()
    if path.is_dir():
        raise UserError(f"{path} is a folder: give {option} a file name, e.g. "
                        f"{option} {path / 'out.file'}")
    if not path.parent.is_dir():
        raise UserError(f"folder {path.parent} does not exist: create it, or give {option} a "
                        "file in an existing folder")
    resolved = path.resolve()
    home = cxr_home()
    database = database_url()
    protected = [home]
    if database.startswith("sqlite:///"):
        protected.append(Path(database.removeprefix("sqlite:///")).expanduser().resolve())
    if any(resolved == place or resolved.is_relative_to(place) for place in protected):
        raise UserError(f"{path} is inside CXR_HOME ({home}), where the database, keys and "
                        f"artifacts live: give {option} a file outside it")
    return path


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable; best effort (not every system opens folders)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def key_file(path: Path, attempts: int = 50) -> bytes:
    """A random key (64 hex characters) kept in `path` (0600): made once by whichever process
    comes first, then read by every other one and every restart."""
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(os.urandom(32).hex().encode())
    for _ in range(attempts):  # another process may be between its create and its write
        key = path.read_bytes().strip()
        if len(key) == KEY_HEX_CHARS:
            return key
        time.sleep(0.05)
    raise RuntimeError(f"{path} does not hold a {KEY_HEX_CHARS}-character key; delete it and "
                       "restart")
