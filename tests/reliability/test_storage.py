"""A read-only or full CXR_HOME is a clear one-line error at start-up, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[callable]:
    mounted: list[Path] = []

    def mount(name: str, options: str) -> Path:
        target = tmp_path / name
        target.mkdir()
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip()})")
        mounted.append(target)
        return target

    yield mount
    for target in mounted:
        subprocess.run(["umount", "-l", str(target)], check=False)


def _cxr(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CXR_HOME": str(home)}
    env.pop("CXR_DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_read_only_home(tmpfs) -> None:  # noqa: ANN001
    home = tmpfs("readonly", "size=1m,ro")
    result = _cxr(home, "runs")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"CXR_HOME={home} is not writable" in result.stderr
    assert "Read-only file system" in result.stderr


def test_full_disk_home(tmpfs) -> None:  # noqa: ANN001
    home = tmpfs("full", "size=64k")
    with open(home / "filler", "wb") as handle:
        try:
            handle.write(b"\0" * 200_000)
            handle.flush()
        except OSError:
            pass
    result = _cxr(home, "runs")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "No space left on device" in result.stderr and str(home) in result.stderr
