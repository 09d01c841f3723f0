"""Named training recipes: `cxr train --recipe NAME` starts from these settings.

Explicit command-line options still win over a recipe. The chosen recipe, with every value it
set, is saved in the run's config like any other setting.
"""

from __future__ import annotations

from engine.errors import UserError

# The generalisation levers of issue 13 (engine/training/augmentation.py), as `cxr train` options.
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
    # Issue 13 (README "Other hospitals"): random resized crops (area 0.25-1) with an 8 degree
    # shear, because the official test is framed otherwise than our train and a tighter crop
    # was the worst shift: at full scale (every image, 128 px, 10 epochs, seed 0) crop-0.7
    # specificity went 0.075 -> 0.851 and zoom-in 0.816 -> 0.930. JPEG q30-95 re-encoding of
    # half of each batch and downscale/blur/gamma on 30% of the images, because the official
    # files are compressed and resized otherwise: downscale-0.3 specificity 0.766 -> 0.831. The
    # NIH AUC moved 0.551 -> 0.603. Over seeds 0-2 the worst shift keeps 0.78-0.83 and the NIH
    # AUC is 0.570 (0.563-0.603). The price is on our own split: test accuracy 0.978 -> 0.952,
    # specificity 0.990 -> 0.936 (3-seed medians; the official test's failure is specificity
    # lost to shift, which the own split cannot show). 18-20 minutes per seed on 2 CPU cores.
    # Mixup, a test-time centre crop, more epochs and larger images were not measured at full
    # scale, so are not on. The threshold stays the Youden edge: its middle did no better
    # under the shifts, sensitivity 0.97 worse (worst 0.75-0.79 against 0.78-0.83).
    # Histogram equalisation stays: against the image's own contrast it raises q30-50 JPEG
    # error 1.4x, and its fine texture only 1.1x against the anatomy's detail (CLAHE: 2.8-3.1x
    # and 1.1x; bench/bench_histeq_compression.py); the JPEG lever trains on that texture.
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
