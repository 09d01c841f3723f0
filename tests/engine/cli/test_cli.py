"""The `cxr` command line: help, clear errors and exit codes, ingest report."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import copy_subset


def cxr(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "CXR_HOME": str(home), **env}
    environment.pop("CXR_DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True,
                          text=True, env=environment, timeout=300)


@pytest.mark.parametrize("command", ["ingest", "train", "evaluate", "runs", "compare",
                                     "demo", "serve"])
def test_every_command_has_help(tmp_path: Path, command: str) -> None:
    result = cxr(command, "--help", home=tmp_path)
    assert result.returncode == 0 and "usage: cxr" in result.stdout


def test_ingest_reports_skipped_files(tmp_path: Path) -> None:
    root = copy_subset(tmp_path / "data", per_class=3)
    (root / "NORMAL" / "notes.jpeg").write_text("this is a text file")
    result = cxr("ingest", str(root), home=tmp_path / "home")
    assert result.returncode == 0, result.stderr
    assert "7 files, 7 new" in result.stdout and "1 skipped" in result.stdout
    assert "NORMAL/notes.jpeg" in result.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["train", "--arch", "vgg99", "--data", "."], "unknown --arch 'vgg99'"),
    (["train", "--data", "/nowhere/at/all"], "/nowhere/at/all does not exist"),
    (["evaluate", "42"], "run 42 does not exist"),
])
def test_errors_are_clear_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = cxr(*args, home=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_missing_pretrained_weights_name_the_file(tmp_path: Path, real_subset: Path) -> None:
    result = cxr("train", "--arch", "resnet18", "--pretrained", "--data", str(real_subset),
                 home=tmp_path, TORCH_HOME=str(tmp_path / "torch"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    expected = tmp_path / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    assert str(expected) in result.stderr and "--weights" in result.stderr


def test_weights_file_is_loaded(tmp_path: Path, real_subset: Path) -> None:
    import torch
    from torchvision.models import resnet18

    weights = tmp_path / "imagenet.pth"
    torch.save(resnet18(weights=None).state_dict(), weights)
    from engine.models import create_model

    model = create_model("resnet18", weights_file=weights)
    assert model.conv1.in_channels == 1 and model.fc.out_features == 1


def test_unusable_home_is_a_clear_error(tmp_path: Path) -> None:
    # A path under a regular file can never be created, even by root.
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = cxr("runs", home=blocker / "home")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "not writable" in result.stderr and str(blocker / "home") in result.stderr


@pytest.mark.parametrize(("value", "message"), [
    ("twenty", "CXR_MAX_UPLOAD_MB='twenty' is not a number of megabytes"),
    ("-1", "CXR_MAX_UPLOAD_MB='-1' must be a positive, finite number"),
    ("inf", "CXR_MAX_UPLOAD_MB='inf' must be a positive, finite number")])
def test_a_bad_upload_limit_is_refused_before_serving(tmp_path: Path, value: str,
                                                     message: str) -> None:
    """One parser of CXR_MAX_UPLOAD_MB (engine/inference/uploads.py) and one behaviour: the server's
    start-up check (what `cxr serve` and `cxr demo` run first) refuses it as `cxr score` does,
    instead of serving with a default the user did not ask for."""
    environment = {**os.environ, "CXR_HOME": str(tmp_path), "CXR_MAX_UPLOAD_MB": value}
    environment.pop("CXR_DATABASE_URL", None)
    result = subprocess.run([sys.executable, "-m", "dashboard.server", "--check-only"],
                            capture_output=True, text=True, env=environment, timeout=120)
    assert result.returncode == 2 and f"cxr: error: {message}" in result.stderr
    assert "Traceback" not in result.stderr
