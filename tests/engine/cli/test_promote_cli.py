"""`cxr promote`, `cxr aliases`, `cxr demote`, and `cxr score` answering with the production run,
on the trained store (real small-CNN runs on real images)."""

from __future__ import annotations

import getpass
import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from db import registry
from db.audit import Actor, recent
from engine.cli.main import EXIT_USER_ERROR
from tests.engine.cli.test_users_cli import cxr

CLI_ACTOR = f"cli:{getpass.getuser()}"


@pytest.fixture
def trained(trained_home: dict, trained_url: str | None,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """The trained store, left as it was found: no alias held after the test."""
    from tests.conftest import point_at

    point_at(monkeypatch, trained_home["home"], trained_url)
    yield trained_home
    for assignment in registry.current_aliases():
        registry.remove_alias(assignment.alias, Actor("tests"))


def _noise_png(path: Path) -> Path:
    """Not a chest X-ray: every run finds it outside its training population."""
    noise = np.random.default_rng(3).integers(0, 256, (512, 512), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return path


def test_promote_then_score_answers_with_production(
        trained: dict, tmp_path: Path, capsys: pytest.CaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = trained["run_ids"]
    xray = sorted((trained["data"] / "NORMAL").iterdir())[0]
    noise = _noise_png(tmp_path / "noise.png")

    code, out, _ = cxr(capsys, monkeypatch, "score", "--json", str(xray))
    assert code == 0  # no production run: every completed run answers, none as production
    scores = json.loads(out)["results"][0]["scores"]
    assert [s["run_id"] for s in scores] == [first, second]
    assert not any(s["production"] for s in scores)

    code, out, _ = cxr(capsys, monkeypatch, "promote", str(second))
    assert code == 0 and f"run {second}" in out and "is now production" in out
    code, out, _ = cxr(capsys, monkeypatch, "aliases")
    assert out.split()[:3] == ["production", "run", str(second)] and CLI_ACTOR in out
    code, out, _ = cxr(capsys, monkeypatch, "runs")
    rows = {line.split()[0]: line.split()[2] for line in out.splitlines()[1:3]}
    assert rows[str(second)] == "production" and rows[str(first)] != "production"

    code, out, _ = cxr(capsys, monkeypatch, "score", "--json", str(xray), str(noise))
    assert code == 0
    results = json.loads(out)["results"]
    assert [[s["run_id"] for s in r["scores"]] for r in results] == [[second], [second]]
    assert all(r["scores"][0]["production"] for r in results)
    real, fake = results
    assert real["assessable"] is True and real["scores"][0]["assessable"] is True
    assert fake["assessable"] is False and fake["scores"][0]["assessable"] is False
    # The other fields stay: the probability and the label at the threshold are still there.
    assert fake["outside_population"] is True and fake["scores"][0]["label"] in (
        "NORMAL", "PNEUMONIA") and 0 <= fake["scores"][0]["probability"] <= 1

    code, out, _ = cxr(capsys, monkeypatch, "score", str(noise))
    assert "not assessable: unlike the training images" in out and "production" in out
    verdicts = out.split("P(pneumonia)=")[1].split("(threshold")[0]
    assert "NORMAL" not in verdicts and "PNEUMONIA" not in verdicts

    code, out, _ = cxr(capsys, monkeypatch, "score", "--all", "--json", str(xray))
    challenged = json.loads(out)["results"][0]
    assert {s["run_id"]: s["production"] for s in challenged["scores"]} == {
        first: False, second: True}
    code, out, _ = cxr(capsys, monkeypatch, "score", "--challengers", str(xray))
    assert "production" in out and "challenger" in out

    _production_moves_on(capsys, monkeypatch, first, second, challenged["upload_id"])


def _production_moves_on(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
                         first: int, second: int, upload_id: int) -> None:
    """The history still says what was answered then, after production moves on."""
    from db.uploads import upload_history

    code, _, _ = cxr(capsys, monkeypatch, "promote", str(first), "--as", "nobody")
    assert code == EXIT_USER_ERROR
    assert cxr(capsys, monkeypatch, "promote", str(first))[0] == 0
    stored = next(entry for entry in upload_history(20) if entry.upload.id == upload_id)
    assert {s.run_id: s.from_production for s in stored.scores} == {first: False, second: True}
    code, out, _ = cxr(capsys, monkeypatch, "aliases", "--history")
    lines = [line for line in out.splitlines() if line.startswith("production")]
    # Newest first; other tests' promotions of the shared store may follow.
    assert [line.split()[2] for line in lines[:2]] == [str(first), str(second)]
    assert f"(by {CLI_ACTOR})" in lines[1] and " now " in lines[0]
    actions = [(e.action, e.target) for e in recent(5, actor=CLI_ACTOR)]
    assert (registry.PROMOTED, f"run {first}") in actions
    code, out, _ = cxr(capsys, monkeypatch, "demote")
    assert code == 0 and registry.production_run_id() is None

def test_promote_refusals_name_the_reason(trained: dict, capsys: pytest.CaptureFixture,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = cxr(capsys, monkeypatch, "promote", "999999")
    assert code == EXIT_USER_ERROR and err.count("\n") == 1 and "run 999999 does not exist" in err
    code, _, err = cxr(capsys, monkeypatch, "promote", "1", "--alias", "Prod!")
    assert code == EXIT_USER_ERROR and "alias 'Prod!'" in err and "Traceback" not in err
    code, _, err = cxr(capsys, monkeypatch, "promote", str(trained["run_ids"][0]), "--as",
                       "someone")
    assert code == EXIT_USER_ERROR and "not an active admin" in err
    code, _, err = cxr(capsys, monkeypatch, "demote", "--alias", "staging")
    assert code == EXIT_USER_ERROR and "no run holds alias staging" in err
    assert registry.current_aliases() == []
