"""Is a film's border evidence to a run, or only where its CAM looks? The product's own tools.

    python bench/border_attention.py RUN --home /tmp/cxr-recipe [--per-cell 40] [--no-road]

For RUN (evaluated on test, on the NIH sample and under the shift checks, as
bench/recipe_compare.py leaves it), prints:
- `cxr attention` per confusion cell (border, corner and lung shares, border share above 0.5,
  ROAD) on the own test split, the NIH sample, val under crop-0.7 (framed tighter, like the
  official test) and val under the marker check (no ROAD there), at the stored CAM layer and one
  twice finer;
- the shortcut suspects (right, while looking mostly outside the lungs) per evaluation;
- what the marker check did: specificity and the mean P(pneumonia) of NORMAL val images with and
  without a pasted laterality marker, and how many of them changed side of the threshold.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

WHERE = (("test", None), ("external", None), ("val", "crop-0.7"), ("val", "marker"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_id", type=int)
    parser.add_argument("--home", default="/tmp/cxr-recipe")
    parser.add_argument("--per-cell", type=int, default=40)
    parser.add_argument("--no-road", action="store_true")
    args = parser.parse_args()
    os.environ["CXR_HOME"] = args.home
    os.environ.setdefault("CXR_NO_PROGRESS", "1")
    for split, shift in WHERE:
        for layer in ("last", "fine"):
            command = [sys.executable, "-m", "engine.cli", "attention", str(args.run_id),
                       "--split", split, "--per-cell", str(args.per_cell), "--cam-layer", layer,
                       *(["--shift", shift] if shift else []),
                       *([] if args.no_road or shift == "marker" else ["--road"])]
            subprocess.run(command, check=False)
    suspects(args.run_id)
    marker(args.run_id)


def suspects(run_id: int) -> None:
    from dashboard.url_state import SUSPECT_MIN_OUTSIDE
    from db import evaluations, gallery, runs

    threshold = runs.get_run(run_id).threshold
    print(f"\nshortcut suspects (correct, at least {SUSPECT_MIN_OUTSIDE:.0%} of the CAM outside "
          "the lungs) and wrong predictions looking the same way")
    for split, shift in WHERE:
        evaluation_id = evaluations.evaluation_id_for(run_id, split, shift)
        if evaluation_id is None:
            continue
        counts = {cell: gallery.cell_images(evaluation_id, cell, threshold, limit=1,
                                            min_outside=SUSPECT_MIN_OUTSIDE).total
                  for cell in ("suspects", "fp", "tp")}
        print(f"{shift or split}: suspects {counts['suspects']}, FP {counts['fp']}, "
              f"TP {counts['tp']} (each looking outside the lungs)")


def marker(run_id: int) -> None:
    import pandas as pd

    from db import evaluations, gallery, runs

    clean_id = evaluations.evaluation_id_for(run_id, "val")
    marked_id = evaluations.evaluation_id_for(run_id, "val", "marker")
    if clean_id is None or marked_id is None:
        print(f"\nrun {run_id} has no marker check: cxr evaluate {run_id} --shift marker")
        return
    threshold = runs.get_run(run_id).threshold
    clean, marked = (pd.DataFrame([(r.image_id, r.true_label, r.probability)
                                   for r in gallery.evaluation_predictions(e)],
                                  columns=["image_id", "true_label", "probability"])
                     for e in (clean_id, marked_id))
    paired = clean.merge(marked.drop(columns="true_label"), on="image_id",
                         suffixes=("", "_marked"))
    for label, name in ((0, "NORMAL"), (1, "PNEUMONIA")):
        rows = paired[paired.true_label == label]
        before, after = rows.probability.to_numpy(), rows.probability_marked.to_numpy()
        flipped = int(((before >= threshold) != (after >= threshold)).sum())
        print(f"\nmarker check, {len(rows)} {name} val images: mean P(pneumonia) "
              f"{before.mean():.3f} -> {after.mean():.3f}, median change "
              f"{np.median(after - before):+.4f}, {flipped} changed side of {threshold:.3f}")


if __name__ == "__main__":
    main()
