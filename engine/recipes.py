"""Named training recipes: `cxr train --recipe NAME` starts from these settings.

Explicit command-line options still win over a recipe. The chosen recipe, with every value it
set, is saved in the run's config like any other setting.
"""

from __future__ import annotations

from engine.errors import UserError

# The generalisation levers of issue 13 (engine/augmentation.py), as `cxr train` options.
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
    # Measured to hold up best under the acquisition-shift checks within 30 minutes on 2 CPU
    # cores (see README "Recipe"): stronger intensity/geometry jitter, per-image histogram
    # equalisation, label smoothing, weight decay, an EMA of the weights, one-cycle schedule,
    # calibration and TTA.
    "best": {"arch": "resnet18", "image_size": 128, "epochs": 10, "batch_size": 32,
             "schedule": "onecycle", "max_lr": 2e-3, "weight_decay": 1e-4,
             "augment_strength": 1.6, "label_smoothing": 0.05, "ema_decay": 0.995,
             "intensity_norm": "equalize", "patience": 10, "calibrate": True, "tta": True,
             "threshold_rule": "youden"},
}


def recipe_settings(name: str) -> dict:
    if name not in RECIPES:
        raise UserError(f"unknown --recipe {name!r}; choose one of {', '.join(RECIPES)}")
    return {**RECIPES[name], "recipe": name}
