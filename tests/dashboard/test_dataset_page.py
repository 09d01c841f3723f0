"""The Dataset page names what ingest skipped (conflicting labels) and counts identical images
in the leakage check."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from dashboard import ids
from db.models import Dataset
from db.session import session_scope
from engine.data.discover import ingest
from engine.data.splits import get_or_create_split
from tests.conftest import copy_subset
from tests.dashboard import dash_http


def _dataset_body(client, dataset_id: int) -> str:  # noqa: ANN001
    status, body = dash_http.post(client, {
        "output": f"{ids.DS_BODY}.children", "outputs": {"id": ids.DS_BODY,
                                                         "property": "children"},
        "inputs": [{"id": ids.DS_DATASET, "property": "value", "value": dataset_id}],
        "changedPropIds": [f"{ids.DS_DATASET}.value"], "state": []})
    assert status == 200
    return json.dumps(body)


def test_conflicting_labels_are_listed_with_their_reason(client, trained_home: dict,
                                                         tmp_path: Path) -> None:
    root = copy_subset(tmp_path / "dup", per_class=6, seed=6)
    normal = sorted((root / "NORMAL").iterdir())[0]
    shutil.copy2(normal, root / "PNEUMONIA" / "person9999_bacteria_1.jpeg")
    dataset_id = ingest(root).dataset_id
    try:
        get_or_create_split(dataset_id, seed=0)
        text = _dataset_body(client, dataset_id)
        assert "2 \\u00d7 conflicting labels" in text
        assert f"NORMAL/{normal.name}: conflicting labels" in text
        assert "no identical image" in text  # the leakage check covers copies too
    finally:
        with session_scope(write=True) as session:
            session.execute(Dataset.__table__.delete().where(Dataset.id == dataset_id))
