"""What to tell a user whose run lacks an evaluation, a feature map or look-alikes: advice that
works for that kind of run. `cxr evaluate` refuses an external model (imported predictions, no
model) and a crossval run (one model per fold, no checkpoint of its own), so only a trained run
is told to re-evaluate. Pure: importing this loads nothing heavy."""

from __future__ import annotations

from db.runs import RunInfo


def is_crossval(run: RunInfo) -> bool:
    return (run.config or {}).get("origin") == "crossval"


def no_features(run: RunInfo) -> str | None:
    """Why this kind of run can never have a feature map or look-alikes (None: it can)."""
    if run.is_external:
        return (f"run {run.id} is an external model: no features (only its predictions were "
                "imported), so no map or look-alikes")
    if is_crossval(run):
        return (f"run {run.id} is a crossval run: it has one model per fold, so no map or "
                f"look-alikes; see its label-issue queue (`cxr label-issues {run.id}`); maps "
                "are kept for trained runs")
    return None


def missing_map(run: RunInfo, split: str) -> str:
    """A run's `split` evaluation has no feature map: why, and what to do."""
    return no_features(run) or (
        f"run {run.id}'s {split} evaluation was made before maps were kept: re-evaluate it "
        f"(`cxr evaluate {run.id} --split {split}`) to see this")


def missing_lookalikes(run: RunInfo) -> str:
    """A run has no look-alike index: why, and what to do."""
    return no_features(run) or (
        f"run {run.id} has no look-alike index: it was evaluated before look-alikes were kept; "
        f"re-evaluate it (`cxr evaluate {run.id}`) to see this")


def missing_evaluation(run: RunInfo, split: str, how: str | None = None) -> str:
    """A run has no completed `split` evaluation: what would make one (`how`: the evaluate
    option, default --split SPLIT)."""
    if run.is_external:
        return (f"run {run.id} is an external model with no {split} predictions: import them "
                "with `cxr import-predictions` (an imported model cannot be re-evaluated)")
    if is_crossval(run):
        return (f"run {run.id} is a crossval run: one model per fold, out-of-fold predictions "
                f"only, no {split} evaluation; see its label-issue queue "
                f"(`cxr label-issues {run.id}`)")
    return (f"run {run.id} has no completed {split} evaluation; evaluate it with "
            f"`cxr evaluate {run.id} {how or f'--split {split}'}`")
