"""View state read from the URL query string: parsed defensively, never trusted."""

from __future__ import annotations

import math
from dataclasses import dataclass

from db import queries


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


@dataclass(frozen=True)
class ErrorsView:
    run_id: int
    split: str
    threshold: float
    cell: str
    image_id: int | None


def errors_view(query: dict, runs: list) -> ErrorsView:
    """The Errors page's view from `?run=&split=&t=&cell=&image=`, defaults where invalid."""
    by_id = {run.id: run for run in runs}
    run = by_id.get(parse_int(query.get("run"))) or runs[0]
    splits = queries.evaluation_splits(run.id)
    split = query.get("split")
    if split not in splits:
        split = "test" if "test" in splits else (splits[0] if splits else "val")
    threshold = clamp_threshold(query.get("t"), default=round(run.threshold, 4))
    cell = query.get("cell") if query.get("cell") in queries.CELLS else "fn"
    return ErrorsView(run.id, split, threshold, cell, parse_int(query.get("image")))


def pick_run(value: object, runs: list, fallback_index: int = 0) -> int | None:
    ids_ = [run.id for run in runs]
    chosen = parse_int(value)
    if chosen in ids_:
        return chosen
    return ids_[min(fallback_index, len(ids_) - 1)] if ids_ else None
