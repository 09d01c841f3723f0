"""A store with a site-calibrated run, shared by the engine, command-line and browser tests of
`cxr calibrate` (registered in tests/conftest.py, so it is built once per session).

The "site" is a synthetic acquisition shift of real images the source run never saw: other
films of the training folder, JPEG-recompressed at quality 50 and zoomed in to 70%, written to
a calibration sample (12 NORMAL, 22 PNEUMONIA: too few NORMAL, so the warning shows) and the
rest of the site (10 of each).
"""

from __future__ import annotations

import contextlib
import io
import os
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import copy_subset, cxr_environment, real_data_root

SAMPLE_COUNTS = {"NORMAL": 12, "PNEUMONIA": 22}
REST_PER_CLASS = 10


def shifted_site(destination: Path, used: set[str]) -> tuple[Path, Path]:
    """(sample, rest) folders of shifted real films not in `used` (file names)."""
    from engine.evaluation.perturbations import SHIFTS

    rng = random.Random(7)
    sample, rest = destination / "site-sample", destination / "site-rest"
    for class_name, n_sample in SAMPLE_COUNTS.items():
        files = [path for path in sorted((real_data_root() / class_name).iterdir())
                 if path.name not in used]
        rng.shuffle(files)
        for index, path in enumerate(files[:n_sample + REST_PER_CLASS]):
            gray = np.asarray(Image.open(path).convert("L"))
            for shift in ("jpeg-q50", "crop-0.7"):
                gray = SHIFTS[shift](gray, index)
            folder = (sample if index < n_sample else rest) / class_name
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(gray).save(folder / f"{path.stem}.png")
    return sample, rest


@pytest.fixture(scope="session")
def site_calibrated(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A small-CNN source run and its site-calibrated run, made through `cxr calibrate`."""
    from db.site_calibration import site_calibrations
    from engine.cli import main as cli
    from engine.training.train import TrainConfig, main
    from tests.auth_helpers import ensure_user

    data = copy_subset(tmp_path_factory.mktemp("calibrate-subset"), per_class=30)
    used = {path.name for path in data.rglob("*.jpeg")}
    sample, rest = shifted_site(tmp_path_factory.mktemp("calibrate-site"), used)
    with cxr_environment(tmp_path_factory.mktemp("calibrate-home")) as home:
        ensure_user()
        source = main(TrainConfig(arch="small_cnn", data=str(data), epochs=1, image_size=64,
                                  batch_size=16, seed=0, name="plain"))
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            code = cli(["calibrate", str(source), "--data", str(sample), "--evaluate",
                        str(rest), "--device", "cpu"])  # a youden run: youden-middle
        calibrated = next(iter(site_calibrations()))
        url = os.environ.get("CXR_DATABASE_URL")
    return {"home": home, "url": url, "source": source, "calibrated": calibrated,
            "sample": sample, "rest": rest, "data": data, "code": code,
            "output": output.getvalue()}
