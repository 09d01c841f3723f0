"""A store without features (runs evaluated before maps and look-alikes were kept): the Map page,
the image detail and the command line say "re-evaluate to see this", never an error."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import delete, select

from dashboard import ids
from db import evaluations, feature_map, gallery
from db.models import FeatureMap, LookalikeIndex, MapPoint
from db.session import session_scope
from tests.dashboard.dash_http import declared_body, dependencies, post


@pytest.fixture
def without_features(quality_home: dict) -> Iterator[dict]:
    """quality_home's first run as an older run would be: no map rows, no look-alike index
    (the artifacts stay on disk, as an older run would have none); put back afterwards."""
    run_id = quality_home["run_ids"][0]
    with session_scope() as session:
        maps = [dict(row._mapping) for row in session.execute(select(FeatureMap.__table__))]
        points = [dict(row._mapping) for row in session.execute(select(MapPoint.__table__))]
        index = [dict(row._mapping) for row in session.execute(
            select(LookalikeIndex.__table__).where(LookalikeIndex.run_id == run_id))]
    with session_scope(write=True) as session:
        session.execute(delete(MapPoint))
        session.execute(delete(FeatureMap))
        session.execute(delete(LookalikeIndex).where(LookalikeIndex.run_id == run_id))
    try:
        yield {**quality_home, "run_id": run_id}
    finally:
        with session_scope(write=True) as session:
            session.execute(FeatureMap.__table__.insert(), maps)
            session.execute(MapPoint.__table__.insert(), points)
            session.execute(LookalikeIndex.__table__.insert(), index)


def _call(client, output_key: str, values: dict) -> dict:  # noqa: ANN001
    entry = next(entry for entry in dependencies(client) if output_key in entry["output"])
    body = declared_body(entry["output"], entry["inputs"], entry["state"],
                         lambda spec: values.get(spec["id"]))
    status, answer = post(client, body)
    assert status == 200, answer
    return answer["response"]


def test_map_detail_and_cli_ask_for_a_re_evaluation(client, without_features: dict,
                                                    capsys) -> None:  # noqa: ANN001
    from engine.cli.main import main

    run_id = without_features["run_id"]
    evaluation_id = evaluations.evaluation_id_for(run_id, "test")
    assert feature_map.feature_map(evaluation_id) is None
    shown = _call(client, ids.MAP_NOTE + ".children", {
        ids.MAP_RUN: run_id, ids.MAP_SPLIT: "test", ids.MAP_COLOUR: "cell",
        ids.MAP_THRESHOLD: 0.5})
    assert "re-evaluate it (`cxr evaluate" in str(shown[ids.MAP_NOTE])
    image_id = gallery.evaluation_predictions(evaluation_id)[0].image_id
    detail = _call(client, ids.ERR_DETAIL + ".children", {
        ids.ERR_SELECTED_IMAGE: image_id, ids.ERR_RUN: run_id, ids.ERR_SPLIT: "test",
        ids.ERR_THRESHOLD: 0.5})
    assert "re-evaluate it (`cxr evaluate" in str(detail[ids.ERR_DETAIL])
    assert main(["map", str(run_id)]) == 2
    assert "re-evaluate it (`cxr evaluate" in capsys.readouterr().err
