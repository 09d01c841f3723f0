"""A run that cannot answer uploads (an imported run: predictions only, no checkpoint) is never
promoted; and a store that still has such a run as production (made before that refusal)
scores with every completed run, with a one-line note, instead of refusing every upload."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from db import registry
from db.audit import Actor
from db.models import RunAlias, utcnow
from db.session import session_scope
from engine.cli.main import EXIT_USER_ERROR
from tests.engine.cli.test_users_cli import cxr


@pytest.fixture
def imported(imported_home: dict, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    from tests.conftest import point_at

    point_at(monkeypatch, imported_home["home"], imported_home["url"])
    yield imported_home
    for assignment in registry.current_aliases():
        registry.remove_alias(assignment.alias, Actor("tests"))


def test_external_run_is_refused_and_an_old_store_falls_back(
        imported: dict, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboard.alias_views import scoring_choice
    from db.runs import completed_runs
    from engine.inference.uploads import scoring_run_ids

    external, ours = imported["external"], imported["ours"]
    for extra in ((), ("--force",)):
        code, _, err = cxr(capsys, monkeypatch, "promote", str(external), *extra)
        assert code == EXIT_USER_ERROR and err.count("\n") == 1 and "Traceback" not in err
        assert f"run {external} cannot answer uploads: it is an imported run" in err
    code, _, err = cxr(capsys, monkeypatch, "promote", "99999999999999999999")
    assert code == EXIT_USER_ERROR and "is not a run id" in err
    assert registry.production_run_id() is None

    with session_scope(write=True) as session:  # a store from before the refusal
        session.add(RunAlias(alias="production", run_id=external, set_by="old", set_at=utcnow()))
    xray = sorted((imported["data"] / "NORMAL").iterdir())[0]
    for extra in ((), ("--all",)):
        code, out, err = cxr(capsys, monkeypatch, "score", "--json", *extra, str(xray))
        assert code == 0, err
        assert f"run {external} holds the production alias but cannot score" in err
        scores = json.loads(out)["results"][0]["scores"]
        assert [s["run_id"] for s in scores] == [ours]
        assert not scores[0]["production"]
    assert scoring_run_ids(None, every_run=True) == [ours]  # the Score page's challengers box
    placeholder, _ = scoring_choice(completed_runs())
    assert placeholder.startswith("every completed run") and "cannot score" in placeholder
