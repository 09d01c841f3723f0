"""Dataset registration under random folder layouts (Hypothesis): subsets, overlaps, copies,
moves and renames of registered folders, each registered in turn, never leave a usable image of
a dataset with an existing root unresolvable (or with another sha256), and never change a
dataset's root while that root exists."""

from __future__ import annotations

import hashlib
import itertools
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage
from sqlalchemy import select

from db.models import Dataset, Image
from db.session import session_scope
from engine.data.discover import ingest
from engine.data.synthetic import make_image
from tests.conftest import cxr_environment

CLASSES = ("NORMAL", "PNEUMONIA")
POOL = 6  # synthetic films per class
OPERATIONS = ("part", "subset", "overlap", "copy", "move", "rename")


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Small synthetic films, each distinct, filed under their class."""
    folder = tmp_path_factory.mktemp("pool")
    rng = np.random.default_rng(0)
    films = []
    for label, name in enumerate(CLASSES):
        (folder / name).mkdir()
        for index in range(POOL):
            path = folder / name / f"{name.lower()}{index}.png"
            PILImage.fromarray(make_image(rng, 64, bool(label))[0]).save(path)
            films.append(path)
    return films


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    with cxr_environment(tmp_path_factory.mktemp("property-home")) as home:
        yield home


def _images(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*.png") if path.is_file())


def _flat(folder: Path, files: list[Path]) -> Path:
    """A NORMAL/ PNEUMONIA/ folder holding copies of `files`, each under its class."""
    for name in CLASSES:
        (folder / name).mkdir(parents=True, exist_ok=True)
    for path in files:
        target = folder / path.parent.name / path.name
        if not target.exists():
            shutil.copy2(path, target)
    return folder


def _roots() -> dict[int, str]:
    with session_scope() as session:
        return dict(session.execute(select(Dataset.id, Dataset.root)).all())


def _resolvable() -> set[int]:
    """Ids of the usable images whose file is where their dataset says, with their sha256."""
    with session_scope() as session:
        rows = session.execute(select(Image.id, Dataset.root, Image.rel_path, Image.sha256)
                               .join(Dataset, Dataset.id == Image.dataset_id)
                               .where(Image.status == "ok")).all()
    found = set()
    for image_id, root, rel_path, digest in rows:
        path = Path(root) / rel_path
        if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == digest:
            found.add(image_id)
    return found


def _register_and_check(target: Path) -> None:
    """Register `target`: no image that resolved stops resolving, no existing root changes,
    and every usable image of the dataset now at `target` resolves."""
    roots, resolvable = _roots(), _resolvable()
    dataset_id = ingest(target).dataset_id
    after = _roots()
    for other, root in roots.items():
        if Path(root).exists():
            assert after[other] == root, f"dataset {other} re-rooted from {root}"
    now = _resolvable()
    assert resolvable <= now, f"no longer resolvable: {sorted(resolvable - now)}"
    with session_scope() as session:
        usable = set(session.scalars(select(Image.id).where(
            Image.dataset_id == dataset_id, Image.status == "ok")).all())
    assert usable <= now, f"dataset {dataset_id} at {target}: {sorted(usable - now)}"


def _apply(step: tuple, folders: list[Path], base: Path, counter) -> Path:  # noqa: ANN001
    """Change the folders as `step` says; returns the folder to register next. `folders` are
    top-level folders: a move or a rename inside one leaves datasets registered on a part of
    it stale until that part is registered again, as on any disk."""
    operation, first, second, share = step
    source, other = folders[first % len(folders)], folders[second % len(folders)]
    fresh = base / f"folder{next(counter)}"
    files = _images(source)
    if operation == "part" and (source / "test").is_dir():
        return source / ("test" if share % 2 else "train")
    if operation in ("part", "subset"):
        return _flat(fresh, files[:max(1, len(files) * share // 4)])
    if operation == "overlap":
        return _flat(fresh, files[:len(files) // 2] + _images(other)[len(_images(other)) // 2:])
    if operation == "copy":
        shutil.copytree(source, fresh)
        return fresh
    if operation == "move":
        shutil.move(source, fresh)
        folders[folders.index(source)] = fresh
        return fresh
    if files:  # rename one file in place
        chosen = files[share % len(files)]
        chosen.rename(chosen.with_name(f"renamed{next(counter)}.png"))
    return source


steps = st.lists(st.tuples(st.sampled_from(OPERATIONS), st.integers(0, 5), st.integers(0, 5),
                           st.integers(1, 4)), min_size=1, max_size=5)


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(train=st.lists(st.integers(0, 2 * POOL - 1), min_size=2, max_size=6, unique=True),
       test=st.lists(st.integers(0, 2 * POOL - 1), min_size=1, max_size=3, unique=True),
       plan=steps)
def test_registration_never_loses_or_reroots_a_dataset(pool: list[Path], store: Path,
                                                       tmp_path_factory, train: list[int],
                                                       test: list[int], plan: list) -> None:
    base = tmp_path_factory.mktemp("layout")
    root = base / "root"
    _flat(root / "train", [pool[i] for i in train])
    _flat(root / "test", [pool[i] for i in test if i not in train])
    _register_and_check(root)
    folders, counter = [root], itertools.count()
    for step in plan:
        target = _apply(step, folders, base, counter)
        _register_and_check(target)
        if target.parent == base and target not in folders:
            folders.append(target)
