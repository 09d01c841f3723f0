"""Prepare the git-ignored .gpu/ folder that bench/gpu_check.sh needs on a bare GPU machine.

Run it here, in the project's virtualenv: `.venv/bin/python bench/gpu_prepare.py`. A rented or
lent GPU machine often has PyTorch, torchvision, OpenCV, scikit-learn and pytest but none of this
project's other packages, and may reach no network. This copies:

    .gpu/site/  the pure-Python packages such an image lacks (SQLAlchemy, Alembic, Mako, pydicom,
                pytorch-grad-cam, ttach), from this virtualenv, without compiled extensions
                (SQLAlchemy falls back to pure Python) or caches, so any CPython 3.11+ takes them
    .gpu/data/  the real training images, NORMAL/ and PNEUMONIA/ (from $CXR_DATA or the shared
                data set), which the CUDA tests sample and the recipe bench trains on

and checks that the checkout plus .gpu/ fits in --limit-mib (64 MiB, what a lent machine takes
along with the checkout). Then, with .gpu/ beside the code there: `bash bench/gpu_check.sh`.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import REPO, data_root  # noqa: E402

PACKAGES = ("sqlalchemy", "alembic", "mako", "pydicom", "pytorch_grad_cam", "ttach")
DISTRIBUTIONS = ("sqlalchemy", "alembic", "mako", "pydicom", "grad_cam", "ttach")
# Compiled parts (built for this Python), caches and test data stay behind.
SKIP = shutil.ignore_patterns("__pycache__", "*.so", "*.pyd", "*.pyc", "test_files", "tests",
                              "charset_files")


def _size(path: Path) -> int:
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())


def copy_site(target: Path) -> None:
    site = Path(importlib.import_module("sqlalchemy").__file__).parent.parent
    target.mkdir(parents=True)
    for name in PACKAGES:
        source = Path(importlib.import_module(name).__file__).parent
        shutil.copytree(source, target / name, ignore=SKIP)
    for name in DISTRIBUTIONS:  # metadata, for importlib.metadata.version()
        for info in site.glob(f"{name}-*.dist-info"):
            shutil.copytree(info, target / info.name, ignore=SKIP)


def copy_data(target: Path, per_class: int) -> int:
    copied = 0
    for name in ("NORMAL", "PNEUMONIA"):
        files = sorted((data_root() / name).iterdir())
        (target / name).mkdir(parents=True)
        for path in files[:per_class] if per_class else files:
            shutil.copy2(path, target / name / path.name)
            copied += 1
    return copied


def tracked_size() -> int:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True,
                           check=True).stdout.split(b"\0")
    return sum((REPO / name.decode()).stat().st_size for name in files
               if name and (REPO / name.decode()).is_file())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default=str(REPO / ".gpu"))
    parser.add_argument("--per-class", type=int, default=0,
                        help="images per class to copy (0: every training image)")
    parser.add_argument("--limit-mib", type=float, default=64.0)
    args = parser.parse_args()
    folder = Path(args.folder)
    if folder.exists():
        shutil.rmtree(folder)
    copy_site(folder / "site")
    images = copy_data(folder / "data", args.per_class)
    site_mib, data_mib = _size(folder / "site") / 2**20, _size(folder / "data") / 2**20
    total = site_mib + data_mib + tracked_size() / 2**20
    print(f"{folder}: site {site_mib:.1f} MiB, data {images} images {data_mib:.1f} MiB; "
          f"with the checkout {total:.1f} MiB (limit {args.limit_mib:.0f} MiB)")
    if total > args.limit_mib:
        print("too large to carry: pass --per-class N to copy fewer images", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
