"""A chosen device reaches the scorers and the server's workers as an argument: the command line
never writes it into os.environ."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from engine.cli import main as cxr
from engine.cli.serve import server_argv


def test_score_device_is_passed_not_written(trained_home: dict, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture) -> None:
    monkeypatch.delenv("CXR_DEVICE", raising=False)
    image = sorted((trained_home["data"] / "NORMAL").iterdir())[0]
    run_id = trained_home["run_ids"][0]
    assert cxr(["score", str(image), "--run", str(run_id), "--device", "cpu", "--json"]) == 0
    [result] = json.loads(capsys.readouterr().out)["results"]
    assert [score["run_id"] for score in result["scores"]] == [run_id]
    assert "CXR_DEVICE" not in os.environ


def test_serve_hands_the_device_to_the_server_as_an_option() -> None:
    from dashboard.server import _parser

    argv = server_argv("127.0.0.1", 8050, 2, https=True, device="cpu")
    assert argv[argv.index("--device") + 1] == "cpu" and "--https" in argv
    assert _parser().parse_args(argv[3:]).device == "cpu"
    assert "--device" not in server_argv("127.0.0.1", 8050, 2)


def test_https_is_passed_not_written(cxr_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboard.app import create_server
    from dashboard.serve_access import check_serve_access, parse_host

    monkeypatch.delenv("CXR_HTTPS", raising=False)
    check_serve_access(parse_host("127.0.0.1"), no_auth=True, https=True)
    assert "CXR_HTTPS" not in os.environ
    assert create_server(auth_enabled=True, https=True).config["SESSION_COOKIE_SECURE"] is True
    assert create_server(auth_enabled=True).config["SESSION_COOKIE_SECURE"] is False
