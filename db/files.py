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

KEY_HEX_CHARS = 64
Writer = Callable[[BinaryIO], object]  # e.g. lambda out: torch.save(state, out)


def atomic_write(path: Path, content: bytes | Writer) -> None:
    """Write `path` whole or not at all: `content` (bytes, or a writer given an open binary file)
    goes into a temporary file of its own in the same folder, is flushed to disk, then renamed
    over `path`. A crash mid-write leaves the old file (or none) and no temporary; concurrent
    writers each rename a whole file of their own, so a reader never sees a torn one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A name of its own per writer; created like any file (the umask applies), never reused.
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temporary, "xb") as out:
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
