"""Files and pipes the CLI writes to: `-o`/`--csv` never land inside CXR_HOME nor on a folder,
what they write is private (0600), a reader closing the pipe early ends the command quietly,
and a negative `--top` is refused."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from db.errors import UserError
from db.files import atomic_write, export_path
from engine.cli.main import main

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("command", [["report", "1", "-o"], ["map", "1", "--csv"]])
@pytest.mark.parametrize("target", ["cxr.db", "secret_key", "artifacts/x.csv", "."])
def test_output_inside_cxr_home_is_refused(cxr_home: Path, capsys: pytest.CaptureFixture,
                                           command: list[str], target: str) -> None:
    database = cxr_home / "cxr.db"
    before = database.read_bytes() if database.exists() else None
    path = cxr_home / target
    code = main([*command, str(path)])
    error = capsys.readouterr().err.strip()
    assert code == 2 and "Traceback" not in error and len(error.splitlines()) == 1, error
    assert str(path) in error or str(path.parent) in error or "folder" in error, error
    if before is not None:
        assert database.read_bytes() == before
    assert not (cxr_home / "secret_key").exists() or target != "secret_key"


@pytest.mark.parametrize("command", [["report", "1", "-o"], ["map", "1", "--csv"]])
def test_folder_or_missing_parent_is_one_line(cxr_home: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture,
                                              command: list[str]) -> None:
    for target, word in ((tmp_path, "is a folder"),
                         (tmp_path / "missing" / "out.csv", "does not exist")):
        assert main([*command, str(target)]) == 2
        error = capsys.readouterr().err.strip()
        assert word in error and len(error.splitlines()) == 1, error
    assert not (tmp_path / "missing").exists()  # no folder made on the way


def test_export_path_allows_an_ordinary_file_outside_home(cxr_home: Path,
                                                         tmp_path: Path) -> None:
    existing = tmp_path / "report.html"
    existing.write_text("old")
    assert export_path(existing, "-o") == existing  # overwriting is the usual -o way
    with pytest.raises(UserError, match="CXR_HOME"):
        export_path(cxr_home / "artifacts" / ".." / "cxr.db", "-o")


def test_atomic_write_mode_is_private_whatever_the_umask(tmp_path: Path) -> None:
    target = tmp_path / "points.csv"
    target.write_text("old")
    target.chmod(0o644)
    old = os.umask(0)
    try:
        atomic_write(target, b"new", mode=0o600)
    finally:
        os.umask(old)
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_negative_top_is_refused(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["slices", "1", "--top", "-5"])
    assert exited.value.code == 2
    assert "--top" in capsys.readouterr().err


def test_a_closed_pipe_ends_quietly(cxr_home: Path) -> None:
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith("CXR_")} | {"CXR_HOME": str(cxr_home)}
    reader, writer = os.pipe()
    os.close(reader)  # the reader has gone before the first line, like `| head -0`
    try:
        done = subprocess.run([sys.executable, "-m", "engine.cli", "runs"], cwd=REPO,
                              env=environment, stdout=writer, stderr=subprocess.PIPE,
                              text=True, timeout=120)
    finally:
        os.close(writer)
    assert done.returncode in (0, 141), done.stderr
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
