"""Look-alikes: the 8 training images nearest in the run's feature space, as thumbnails with
their true label and whether the run got each right. Shown under the Errors page's image detail
and under each run's score of an upload on the Score page (that page is the uploader's)."""

from __future__ import annotations

import logging

import dash_bootstrap_components as dbc
import numpy as np
from dash import html

from dashboard import ids
from db import runs
from db.models import LABEL_NAMES
from engine.errors import UserError
from engine.evaluation import advice
from engine.inference.lookalikes import Lookalike

log = logging.getLogger(__name__)
TITLE = "Look-alikes: the nearest training images in this run's features"


def tiles(found: list[Lookalike] | None, key: str, run_id: int) -> html.Div:
    """The look-alikes' thumbnails, or why the run has none (and whether re-evaluating helps)."""
    if found is None:
        message = advice.missing_lookalikes(runs.get_run(run_id))
        return html.Div(message[0].upper() + message[1:] + ".",
                        className="text-muted small cxr-lookalikes-missing")
    if not found:
        return html.Div("This run has no training images to compare with.",
                        className="text-muted small")
    items = [html.Div([
        html.Img(src=f"/files/thumb/{item.image_id}", alt=f"training image {item.image_id}"),
        html.Div([dbc.Badge(item.label_name, color="danger" if item.true_label else "primary",
                            className="me-1"),
                  dbc.Badge("run right" if item.correct else "run wrong",
                            color="success" if item.correct else "warning",
                            className="cxr-lookalike-verdict")], className="small"),
        html.Div(f"#{item.image_id} · d = {item.distance:.3g}", className="small text-muted"),
    ], className="cxr-tile cxr-lookalike", title=(
        f"training image {item.image_id}: {item.label_name}, the run said "
        f"{LABEL_NAMES[item.predicted_label]} (P = {item.probability:.3f})"),
        **{"data-image": item.image_id}) for item in found]
    return html.Div(items, className="cxr-gallery", id={"type": ids.LOOKALIKES, "key": key})


def for_image(run_id: int, evaluation_id: int | None, image_id: int) -> html.Div:
    """Under an evaluated image's detail panel."""
    from engine.inference.lookalikes import lookalikes_of_image

    found = (lookalikes_of_image(run_id, evaluation_id, image_id)
             if evaluation_id is not None else None)
    return dbc.Card(dbc.CardBody([html.H6(TITLE), tiles(found, f"image-{image_id}", run_id)]),
                    className="cxr-card mt-3")


def for_upload(gray: np.ndarray, run_ids: list[int], device: str | None) -> html.Div:
    """Under an upload's scores: each scoring run's look-alikes of its pixels."""
    from engine.inference.lookalikes import lookalikes_of_gray

    sections = []
    for run_id in run_ids:
        try:
            found = lookalikes_of_gray(run_id, gray, device=device)
        except UserError as exc:
            sections.append(html.Div(str(exc), className="text-muted small"))
            continue
        sections.append(html.Div([html.Div(f"run #{run_id}", className="small fw-semibold"),
                                  tiles(found, f"upload-run-{run_id}", run_id)], className="mb-2"))
    return html.Details([html.Summary(TITLE, className="small"), *sections],
                        className="mt-2 score-lookalikes", open=True)
