"""db/ fixtures: a test that uses the trained store reads it through CXR_HOME (and
CXR_DATABASE_URL on PostgreSQL), whatever ran before."""

from __future__ import annotations

import pytest

from tests.conftest import point_at


@pytest.fixture(autouse=True)
def _trained_environment(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    if "trained_home" in request.fixturenames:
        point_at(monkeypatch, request.getfixturevalue("trained_home")["home"],
                 request.getfixturevalue("trained_url"))
