"""The Download report button of the Runs and Compare pages, and the route it points at.

The route builds the same report as `cxr report` (engine/report/) for the signed-in viewer and
records the download in the audit. Like every image route it needs the viewer role, answers
with no-store, and takes run ids only; a report never embeds an upload's pixels.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

import dash_bootstrap_components as dbc
from dash import Input, Output, clientside_callback
from flask import Blueprint, Response, request

from dashboard import auth, ids
from dashboard.auth import requires
from dashboard.files import MAX_ID, no_store
from engine.errors import UserError
from engine.report.build import export_report
from engine.report.content import SPLITS

ROUTE = "/report/download"
MAX_RUNS = 10
ID_TEXT = re.compile(r"[0-9]{1,10}")
blueprint = Blueprint("report_files", __name__)
blueprint.after_request(no_store)


def report_href(run_ids: list[int | None], split: str | None) -> str | None:
    """The route's URL for these runs (None when no run is chosen)."""
    chosen = [str(run_id) for run_id in run_ids if run_id is not None]
    if not chosen:
        return None
    return f"{ROUTE}?" + urlencode({"runs": ",".join(chosen),
                                    "split": split if split in SPLITS else "test"})


def download_button(component_id: str, run_ids: list[int | None],
                    split: str | None) -> dbc.Button:
    return dbc.Button("Download report", id=component_id, href=report_href(run_ids, split),
                      external_link=True, size="sm", color="primary", outline=True,
                      className="mb-2 ms-2", title="One HTML file to share: it embeds images, "
                                                   "and the download is audited")


def _refusal(message: str, status: int = 400) -> Response:
    return Response(message + "\n", status, mimetype="text/plain")


def _run_ids(text: str) -> list[int] | None:
    """1 to MAX_RUNS database ids separated by commas, else None (ASCII digits only: "²" is a
    digit to str.isdigit, and int() refuses it)."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts or len(parts) > MAX_RUNS or not all(ID_TEXT.fullmatch(part) for part in parts):
        return None
    values = [int(part) for part in parts]
    return values if all(0 < value <= MAX_ID for value in values) else None


@blueprint.route(ROUTE)
@requires("viewer")
def download() -> Response:
    run_ids = _run_ids(request.args.get("runs", ""))
    split = request.args.get("split", "test")
    if run_ids is None:
        return _refusal(f"runs must be 1 to {MAX_RUNS} run ids separated by commas, e.g. "
                        "?runs=3,4: select runs in the table, then Download report")
    if split not in SPLITS:
        return _refusal(f"split must be {' or '.join(SPLITS)}, not {split[:40]!r}")
    try:
        page = export_report(run_ids, auth.current_actor(), split, via="dashboard")
    except UserError as error:
        return _refusal(str(error).splitlines()[0], 404)
    name = f"cxr-report-runs-{'-'.join(str(run_id) for run_id in run_ids)}-{split}.html"
    return Response(page, mimetype="text/html", headers={
        "Content-Disposition": f'attachment; filename="{name}"'})


# The button follows the page's selection, in the browser: no round trip.
_QUERY = (f'"{ROUTE}?" + new URLSearchParams({{runs: chosen.join(","), '
          'split: split === "val" ? "val" : "test"})')
clientside_callback(
    "function (runs, split) { const chosen = runs || []; "
    f"return chosen.length ? {_QUERY} : null; }}",
    Output(ids.RUNS_REPORT, "href"), Input(ids.RUNS_TABLE, "selected_row_ids"),
    Input(ids.RUNS_SPLIT, "value"))
clientside_callback(
    "function (a, b, split) { const chosen = [a, b].filter(run => run !== null "
    f"&& run !== undefined); return chosen.length ? {_QUERY} : null; }}",
    Output(ids.CMP_REPORT, "href"), Input(ids.CMP_RUN_A, "value"),
    Input(ids.CMP_RUN_B, "value"), Input(ids.CMP_SPLIT, "value"))
