"""View state read from the URL query string: parsed defensively, never trusted."""

from __future__ import annotations

import math
from dataclasses import dataclass

from db import evaluations, gallery
from engine.evaluation.slices import parse_key


def parse_int(value: object) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def clamp_threshold(value: object, default: float = 0.5) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return default if math.isnan(number) else min(max(number, 0.0), 1.0)


# "Shortcut suspects" starts here: correct, with at least 80% of the CAM outside the lungs (the
# lung mask covers about a quarter of a film, so evenly spread attention puts ~75% outside).
SUSPECT_MIN_OUTSIDE = 0.8


@dataclass(frozen=True)
class ErrorsView:
    run_id: int
    split: str
    threshold: float
    cell: str
    image_id: int | None
    min_outside: float = 0.0  # attention filter: share of CAM energy outside the lungs
    sort: str = "confident_first"
    population: str = "all"  # typicality filter: all | outside | inside the training population
    slice: str | None = None  # a slice key: the gallery keeps only that slice's images
    chosen: tuple[int, ...] = ()  # images picked on the Map page (cell "chosen")


# The most image ids a URL may carry to the gallery (the Map page's selection).
MAX_CHOSEN = 500


def chosen_ids(value: object) -> tuple[int, ...]:
    """`?ids=3,5,8` -> (3, 5, 8): positive integers only, duplicates dropped, at most
    MAX_CHOSEN; anything else is ignored."""
    found: dict[int, None] = {}
    for part in str(value or "").split(",")[:MAX_CHOSEN * 2]:
        number = parse_int(part.strip()) if part.strip().isdigit() else None
        if number is not None and 0 < number < 2**31:  # an id the database can hold
            found[number] = None
        if len(found) >= MAX_CHOSEN:
            break
    return tuple(found)


def errors_view(query: dict, runs: list) -> ErrorsView:
    """The Errors page's view from `?run=&split=&t=&cell=&image=`, defaults where invalid."""
    by_id = {run.id: run for run in runs}
    run = by_id.get(parse_int(query.get("run"))) or runs[0]
    splits = evaluations.evaluation_splits(run.id)
    split = query.get("split")
    if split not in splits:
        split = "test" if "test" in splits else (splits[0] if splits else "val")
    threshold = clamp_threshold(query.get("t"), default=round(run.threshold, 4))
    cell = query.get("cell") if query.get("cell") in gallery.GALLERY_CELLS else "fn"
    chosen = chosen_ids(query.get("ids"))
    if chosen and query.get("cell") in (None, gallery.CHOSEN):
        cell = gallery.CHOSEN
    min_outside = clamp_threshold(query.get("outside"), default=0.0)
    if cell == gallery.SUSPECTS and "outside" not in query:
        min_outside = SUSPECT_MIN_OUTSIDE
    sort = query.get("sort") if query.get("sort") in gallery.SORTS else "confident_first"
    population = (query.get("population") if query.get("population") in gallery.POPULATIONS
                  else "all")
    slice_key = query.get("slice") if parse_key(query.get("slice")) else None
    return ErrorsView(run.id, split, threshold, cell, parse_int(query.get("image")),
                      min_outside, sort, population, slice_key, chosen)


def pick_run(value: object, runs: list, fallback_index: int = 0) -> int | None:
    ids_ = [run.id for run in runs]
    chosen = parse_int(value)
    if chosen in ids_:
        return chosen
    return ids_[min(fallback_index, len(ids_) - 1)] if ids_ else None
