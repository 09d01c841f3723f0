"""Data behind a symbolic link (train/ on another disk): the engine trains on it, so the
dashboard serves it too, by image id and only the file ingest recorded."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from db.models import Dataset, Image
from db.session import session_scope
from engine.data.discover import ingest
from tests.conftest import copy_subset


def test_images_behind_a_linked_folder_are_served(client, trained_home: dict, tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    other_disk = copy_subset(tmp_path / "other-disk" / "train", per_class=2, seed=4)
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(other_disk, root / "train")
    dataset_id = ingest(root).dataset_id
    try:
        with session_scope() as session:
            image_ids = session.scalars(select(Image.id).where(
                Image.dataset_id == dataset_id, Image.status == "ok")).all()
        assert len(image_ids) == 4
        for image_id in image_ids:
            assert client.get(f"/files/image/{image_id}").status_code == 200
            thumb = client.get(f"/files/thumb/{image_id}")
            assert thumb.status_code == 200 and thumb.data.startswith(b"\x89PNG")
        # Re-pointed after ingest: the link now leads to files ingest never recorded.
        elsewhere = tmp_path / "elsewhere"
        shutil.copytree(other_disk, elsewhere)
        (root / "train").unlink()
        os.symlink(elsewhere, root / "train")
        with caplog.at_level(logging.WARNING, logger="dashboard.files"):
            assert client.get(f"/files/image/{image_ids[0]}").status_code == 404
        assert "cxr ingest" in caplog.text  # a refused image says why in the log
    finally:
        with session_scope(write=True) as session:
            session.execute(Dataset.__table__.delete().where(Dataset.id == dataset_id))
