"""Shared fixtures: a private CXR_HOME per test, real-image subsets, trained runs.

Real images come from CXR_DATA (CI points it at the shared training split); tests copy small
subsets to a temporary folder and never write next to the originals.
"""

from __future__ import annotations

import os
import random
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "chest_xray"
# The external NIH sample sits beside the training data (shared/data/external/nih_cxr8): found
# from CXR_DATA where that is set, so a checkout anywhere finds it; CXR_NIH overrides.
NIH = Path(os.environ.get("CXR_NIH")
           or Path(os.environ.get("CXR_DATA") or DEFAULT_DATA).parent / "external" / "nih_cxr8")

os.environ.setdefault("CXR_NO_PROGRESS", "1")


def real_data_root() -> Path:
    root = Path(os.environ.get("CXR_DATA") or DEFAULT_DATA)
    train = root / "train" if (root / "train").is_dir() else root
    if not (train / "NORMAL").is_dir():
        pytest.skip(f"real chest X-ray data not found at {root}; set CXR_DATA")
    return train


def copy_subset(destination: Path, per_class: int, seed: int = 0,
                whole_patients: bool = True) -> Path:
    """Copy `per_class` real images of each class into destination/{NORMAL,PNEUMONIA}."""
    source = real_data_root()
    rng = random.Random(seed)
    for class_name in ("NORMAL", "PNEUMONIA"):
        files = sorted((source / class_name).iterdir())
        rng.shuffle(files)
        target = destination / class_name
        target.mkdir(parents=True, exist_ok=True)
        for path in files[:per_class]:
            shutil.copy2(path, target / path.name)
    return destination


def postgres_admin_url() -> str | None:
    """CXR_TEST_POSTGRES_URL: a PostgreSQL server on which tests may create databases.

    When it is set (CI sets it for its second pass), every test store is a fresh PostgreSQL
    database instead of SQLite.
    """
    return os.environ.get("CXR_TEST_POSTGRES_URL")


def create_postgres_database(admin_url: str) -> str:
    from sqlalchemy import create_engine, text

    name = f"cxr_test_{uuid.uuid4().hex[:16]}"  # generated, never user input
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return f"{admin_url.rsplit('/', 1)[0]}/{name}"


@contextmanager
def cxr_environment(home: Path, database_url: str | None = None) -> Iterator[Path]:
    """Point CXR_HOME (and CXR_DATABASE_URL) at a new store, upgraded to head.

    The store is SQLite under `home`, or a fresh PostgreSQL database when
    CXR_TEST_POSTGRES_URL is set (or `database_url` is given).
    """
    from db.session import dispose_engines

    saved = {key: os.environ.get(key) for key in ("CXR_HOME", "CXR_DATABASE_URL")}
    if database_url is None and postgres_admin_url():
        database_url = create_postgres_database(postgres_admin_url())
    os.environ["CXR_HOME"] = str(home)
    if database_url:
        os.environ["CXR_DATABASE_URL"] = database_url
    else:
        os.environ.pop("CXR_DATABASE_URL", None)
    from db.migrate import init_db

    init_db()
    try:
        yield home
    finally:
        dispose_engines()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def cxr_home(tmp_path: Path) -> Iterator[Path]:
    """An empty, migrated results store for one test."""
    with cxr_environment(tmp_path / "cxr-home") as home:
        yield home


@pytest.fixture(scope="session")
def real_subset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 real images per class, flat NORMAL/ PNEUMONIA/ layout (read-only: don't modify)."""
    return copy_subset(tmp_path_factory.mktemp("real-subset"), per_class=60)


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from engine.data.synthetic import generate

    return generate(tmp_path_factory.mktemp("synthetic"), n_per_class=40, size=64)


@pytest.fixture(scope="session")
def trained_home(tmp_path_factory: pytest.TempPathFactory, real_subset: Path) -> Iterator[dict]:
    """A results store with two completed small-CNN runs on real images (read-mostly)."""
    from engine.training.train import TrainConfig, main

    with cxr_environment(tmp_path_factory.mktemp("trained-home")) as home:
        run_ids = [
            main(TrainConfig(arch="small_cnn", data=str(real_subset), epochs=2, image_size=64,
                             batch_size=16, seed=seed, name=f"small-seed{seed}"))
            for seed in (0, 1)
        ]
        yield {"home": home, "run_ids": run_ids, "data": real_subset}


def run_lacking(split: str, run_ids: list[int]) -> int:
    """The first of the shared store's runs with no evaluation on `split` (other tests add
    external evaluations to the first run)."""
    from db import evaluations

    for run_id in run_ids:
        if split not in evaluations.evaluation_splits(run_id):
            return run_id
    pytest.fail(f"every shared run has a {split} evaluation: nothing to refuse")


def point_at(monkeypatch: pytest.MonkeyPatch, home: Path, url: str | None) -> None:
    monkeypatch.setenv("CXR_HOME", str(home))
    if url:
        monkeypatch.setenv("CXR_DATABASE_URL", url)
    else:
        monkeypatch.delenv("CXR_DATABASE_URL", raising=False)


@pytest.fixture(scope="session")
def trained_url(trained_home: dict) -> str | None:
    """CXR_DATABASE_URL of the trained store (None: SQLite under its CXR_HOME).

    Read while the session-scoped trained_home is the current store; on PostgreSQL the store is
    a database of its own, which CXR_HOME alone does not name.
    """
    return os.environ.get("CXR_DATABASE_URL")


# The external-run store (engine and dashboard tests share it): tests/imported_fixtures.py.
from tests.imported_fixtures import imported_home  # noqa: E402, F401


@pytest.fixture(scope="session")
def crossval_home(tmp_path_factory: pytest.TempPathFactory, real_subset: Path) -> dict:
    """A store of its own holding one `cxr crossval` run (3 folds, small CNN, 64 px) on real
    images: out-of-fold predictions with Grad-CAMs and cleanlab's ranking."""
    from engine.training.crossval import crossval
    from engine.training.train import TrainConfig

    with cxr_environment(tmp_path_factory.mktemp("crossval-home")) as home:
        run_id = crossval(TrainConfig(arch="small_cnn", data=str(real_subset), epochs=1,
                                      image_size=64, batch_size=16, name="crossval-test"),
                          folds=3)
        url = os.environ.get("CXR_DATABASE_URL")
    return {"home": home, "url": url, "run_id": run_id, "data": real_subset}


from tests.site_calibration_store import site_calibrated  # noqa: E402,F401 - a session fixture
