"""Where an external run (predictions imported from a model trained elsewhere) has nothing to
show: no checkpoint, so no Grad-CAM, no attention and no scoring of uploads."""

from __future__ import annotations

from dash import html

from db import imported
from db.runs import RunInfo

NO_MODEL = "External model: no checkpoint, no Grad-CAM"


def no_cam(detail: str = "") -> html.Div:
    """Stands where a CAM would be drawn."""
    return html.Div(NO_MODEL + (f" ({detail})" if detail else ""),
                    className="text-muted small external-no-cam")


def is_external(run_id: int | None) -> bool:
    return imported.is_external(run_id)


def score_note(runs: list[RunInfo]) -> html.Div | None:
    """Under the Score page's picker: which runs are missing from it, and why."""
    external = [run.label for run in runs if run.is_external]
    if not external:
        return None
    return html.Div(f"Not listed: {', '.join(external)}. {NO_MODEL}: imported predictions "
                    "cannot score uploads.", className="small text-muted mt-1",
                    id="score-external-note")
