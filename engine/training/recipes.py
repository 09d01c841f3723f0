"""Named training recipes: `cxr train --recipe NAME` starts from these settings.

Explicit command-line options still win over a recipe. The chosen recipe, with every value it
set, is saved in the run's config like any other setting.
"""

from __future__ import annotations

from engine.errors import UserError

# The generalisation levers (engine/training/augmentation.py), as `cxr train` options.
LEVER_OPTIONS = {
    "crop_scale_min": "random resized crop keeping this share of the area up to 1 (1 = off)",
    "shear_degrees": "shear of up to this many degrees with the crop (default 0)",
    "test_center_crop": "at evaluation keep the middle share of each side (1 = off)",
    "jpeg_share": "share of each batch swapped for a JPEG q30-95 re-encoding (default 0)",
    "acquisition": "chance of each of downscale-upscale, blur and gamma per image (default 0)",
    "mixup_alpha": "mixup Beta(alpha, alpha) (0 = off)",
}

RECIPES: dict[str, dict] = {
    # The reference: Adam + triangular CyclicLR, plain augmentation, Youden threshold.
    "reference": {"arch": "resnet18", "image_size": 224, "epochs": 10, "schedule": "cyclic"},
    # Holds up best under the acquisition-shift checks within 30 minutes of 2 CPU cores: stronger
    # jitter, per-image histogram equalisation, label smoothing, weight decay, EMA, one-cycle,
    # calibration and TTA; crops with shear, JPEG re-encoding and downscale/blur/gamma, because
    # other hospitals frame, compress and resize their films otherwise. Why each setting, and
    # why mixup, a test-time centre crop, 20 epochs, 160 px, resnet34 and ensembles stay off,
    # with the figures: docs/results.md (Recipe; A stronger ranking)
    "best": {"arch": "resnet18", "image_size": 128, "epochs": 10, "batch_size": 32,
             "schedule": "onecycle", "max_lr": 2e-3, "weight_decay": 1e-4,
             "augment_strength": 1.6, "label_smoothing": 0.05, "ema_decay": 0.995,
             "intensity_norm": "equalize", "patience": 10, "calibrate": True, "tta": True,
             "threshold_rule": "youden", "crop_scale_min": 0.25, "shear_degrees": 8.0,
             "jpeg_share": 0.5, "acquisition": 0.3},
}


def recipe_settings(name: str) -> dict:
    if name not in RECIPES:
        raise UserError(f"unknown --recipe {name!r}; choose one of {', '.join(RECIPES)}")
    return {**RECIPES[name], "recipe": name}
