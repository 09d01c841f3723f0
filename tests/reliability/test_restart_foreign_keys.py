"""A second start on an existing store leaves foreign keys on, so deletes still cascade.

Every process after the first one to open a store runs `init_db()` on a database already at
head. On SQLite the migration environment turns foreign keys off while it works; if it turned
them back on inside a still-open transaction, SQLite ignored that, the pooled connection kept
them off, deletes stopped cascading, and the next start refused the store for its dangling rows.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import delete, func, insert, select, text

from db.migrate import init_db
from db.models import Dataset, Image
from db.session import get_engine, session_scope


def test_deletes_cascade_after_a_restart(cxr_home: Path) -> None:
    init_db()  # the second start: nothing to migrate
    sqlite = get_engine().dialect.name == "sqlite"
    for write in (False, True):
        with session_scope(write=write) as session:
            if sqlite:
                assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
    with session_scope(write=True) as session:
        dataset_id = session.execute(insert(Dataset).returning(Dataset.id), [{
            "name": "cascade", "root": str(cxr_home / "data")}]).scalar_one()
        session.execute(insert(Image), [{
            "dataset_id": dataset_id, "rel_path": f"NORMAL/{i}.png", "sha256": str(i),
            "label": 0, "source_folder": "", "patient_id": str(i)} for i in range(3)])
    with session_scope(write=True) as session:
        session.execute(delete(Dataset).where(Dataset.id == dataset_id))
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Image)) == 0
    init_db()  # and the store still opens
