"""atomic_write: a file beside the database is written whole or not at all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from db.files import atomic_write

SIZE = 1 << 20  # large enough that a write takes many system calls


def _leftovers(folder: Path, keep: str) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name != keep)


def test_bytes_and_writers_land_whole(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "file.bin"
    atomic_write(target, b"first")
    assert target.read_bytes() == b"first"
    atomic_write(target, lambda out: out.write(b"second"))
    assert target.read_bytes() == b"second"
    # np.save and torch.save given the open file write the target itself, no added suffix.
    array = np.arange(12).reshape(3, 4)
    atomic_write(tmp_path / "cache.npy", lambda out: np.save(out, array))
    assert (np.load(tmp_path / "cache.npy") == array).all()
    atomic_write(tmp_path / "state.pt", lambda out: torch.save({"w": torch.ones(2)}, out))
    assert torch.load(tmp_path / "state.pt", weights_only=True)["w"].sum() == 2
    assert _leftovers(target.parent, "file.bin") == []


@pytest.mark.parametrize("failure", [OSError("disk full"), KeyboardInterrupt()])
def test_a_failure_mid_write_keeps_the_old_file_and_no_temporary(tmp_path: Path,
                                                                  failure: BaseException) -> None:
    target = tmp_path / "best.pt"
    atomic_write(target, b"old" * SIZE)

    def half_then_fail(out) -> None:  # noqa: ANN001
        out.write(b"new" * (SIZE // 2))
        raise failure

    with pytest.raises(type(failure)):
        atomic_write(target, half_then_fail)
    assert target.read_bytes() == b"old" * SIZE
    assert _leftovers(tmp_path, "best.pt") == []


def test_a_killed_writer_leaves_the_old_file_whole(tmp_path: Path) -> None:
    """SIGKILL mid-write (nothing can clean up): the target is still the old file, whole."""
    target = tmp_path / "last.pt"
    atomic_write(target, b"old" * SIZE)
    script = (
        "import sys, time\nfrom pathlib import Path\nfrom db.files import atomic_write\n"
        "def slow(out):\n    out.write(b'new' * 1000); out.flush(); print('writing', flush=True)\n"
        "    time.sleep(60)\n"
        f"atomic_write(Path({str(target)!r}), slow)\n")
    writer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(Path.cwd())})
    try:
        assert writer.stdout.readline().strip() == "writing"
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.wait(timeout=30)
    assert target.read_bytes() == b"old" * SIZE
    # The killed writer's temporary is hidden, named for the target and never read.
    assert all(name.startswith(".last.pt.") and name.endswith(".tmp")
               for name in _leftovers(tmp_path, "last.pt"))


def test_concurrent_writers_never_produce_a_torn_file(tmp_path: Path) -> None:
    target = tmp_path / "thumb.png"
    contents = [bytes([index]) * SIZE for index in range(4)]
    atomic_write(target, contents[0])
    seen: list[bool] = []  # whether each read was one whole content
    done = threading.Event()

    errors: list[BaseException] = []

    def write(content: bytes) -> None:
        for _ in range(15):
            try:
                atomic_write(target, lambda out, content=content: [
                    out.write(content[start:start + 65536]) for start in range(0, SIZE, 65536)])
            except OSError as exc:  # e.g. a shared temporary renamed away by another writer
                errors.append(exc)

    def read() -> None:
        while not done.is_set():
            seen.append(target.read_bytes() in contents)

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=write, args=(content,)) for content in contents]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    reader.join()
    assert errors == [] and seen and all(seen)
    assert target.read_bytes() in contents
    assert _leftovers(tmp_path, "thumb.png") == []
