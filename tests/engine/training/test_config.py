"""A training config out of range is refused before any run row exists, naming the option."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from engine.errors import UserError
from engine.training.config import TrainConfig
from engine.training.recipes import RECIPES

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(("field", "value"), [
    ("max_lr", math.nan), ("max_lr", -1.0), ("max_lr", math.inf), ("ema_decay", 2.0),
    ("mixup_alpha", -1.0), ("test_center_crop", 0.0), ("label_smoothing", 5.0),
    ("augment_strength", -5.0), ("crop_scale_min", 2.0), ("jpeg_share", 3.0), ("patience", -1),
    ("weight_decay", math.nan), ("acquisition", -0.1), ("shear_degrees", 90.0)])
def test_values_out_of_range_are_refused_by_name(field: str, value: float) -> None:
    with pytest.raises(UserError, match="--" + field.replace("_", "-")):
        TrainConfig(**{field: value}).validate()


def test_the_defaults_and_every_recipe_are_in_range() -> None:
    TrainConfig().validate()
    for recipe in RECIPES.values():
        TrainConfig(**{key: value for key, value in recipe.items()
                       if key in TrainConfig.__dataclass_fields__}).validate()


def test_cxr_train_refuses_a_bad_value_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "engine.cli", "train", "--data", str(tmp_path),
                           "--max-lr", "nan"], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env={"CXR_HOME": str(tmp_path / "home"),
                                            "PATH": "/usr/bin:/bin"})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("cxr: error: --max-lr nan")
