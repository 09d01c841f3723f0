"""Look-alikes of an upload on the Score page (over HTTP, on the quality store): each scoring
run's 8 nearest training images, in order, for uploaders; a viewer's upload call is refused."""

from __future__ import annotations

import base64
import re

from engine.data.decode import decode_file
from engine.inference.lookalikes import lookalikes_of_gray
from tests.auth_helpers import ensure_user, sign_in_client
from tests.dashboard import dash_http
from tests.dashboard.test_score_ensembles import _score_body


def test_an_upload_shows_each_runs_lookalikes(client, dash_app, quality_home: dict) -> None:
    run_ids = [quality_home["run_ids"][1], quality_home["ensemble_id"]]
    source = sorted((quality_home["data"] / "NORMAL").iterdir())[3]
    data_url = "data:image/jpeg;base64," + base64.b64encode(source.read_bytes()).decode()
    deps = dash_http.dependencies(client)
    status, body = dash_http.post(client, _score_body(deps, data_url, source.name, run_ids))
    assert status == 200
    results = str(body["response"]["score-results"]["children"])
    shown = [int(found) for found in re.findall(r"/files/thumb/(\d+)", results)]
    gray = decode_file(source)
    expected = [item.image_id for run_id in run_ids
                for item in lookalikes_of_gray(run_id, gray, device="cpu")]
    assert len(expected) == 16 and shown == expected
    assert "run right" in results or "run wrong" in results

    ensure_user("lookalike-viewer", "viewer", "viewer-password-1")
    viewer = sign_in_client(dash_app.server.test_client(), "lookalike-viewer",
                            "viewer-password-1")
    status, body = dash_http.post(viewer, _score_body(deps, data_url, source.name, run_ids))
    assert status == 403 and "/files/thumb/" not in str(body)
