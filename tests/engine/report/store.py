"""What every report test reads (a session fixture, imported by the test modules that use it):
the two runs of trained_home, the first also evaluated on a few NIH images so the report has a
shift view, and a viewer."""

from __future__ import annotations

from pathlib import Path

import pytest

PASSWORD = "report-password"


@pytest.fixture(scope="session")
def report_store(trained_home: dict, trained_url: str | None,
                 tmp_path_factory: pytest.TempPathFactory) -> dict:
    from engine.evaluation.evaluate import evaluate_run
    from tests.auth_helpers import ensure_user
    from tests.conftest import point_at
    from tests.engine.evaluation.test_adapt import _new_site

    site: Path = _new_site(tmp_path_factory.mktemp("report-site") / "nih-site", per_class=6)
    with pytest.MonkeyPatch.context() as monkeypatch:
        point_at(monkeypatch, trained_home["home"], trained_url)
        external = evaluate_run(trained_home["run_ids"][0], data_dir=str(site), device="cpu")
        ensure_user("report-viewer", "viewer", PASSWORD)
    return {**trained_home, "url": trained_url, "external": external, "site": site}


@pytest.fixture
def report_env(report_store: dict, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Point CXR_HOME (and CXR_DATABASE_URL) at the report store for one test."""
    from tests.conftest import point_at

    point_at(monkeypatch, report_store["home"], report_store["url"])
    return report_store
