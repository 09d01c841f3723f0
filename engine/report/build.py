"""Build a report and record who took it: the one entry point of `cxr report` and the
dashboard's Download report button. A report embeds patients' images, so every one written or
downloaded is an audited event, like an image view."""

from __future__ import annotations

from pathlib import Path

from db.audit import Actor, record
from db.files import atomic_write, export_path
from engine.errors import UserError
from engine.provenance import code_version
from engine.report.content import WORST_PER_CELL, report_content
from engine.report.render import render

REPORT_ACTION = "downloaded report"


def export_report(run_ids: list[int], actor: Actor, split: str = "test",
                  per_cell: int = WORST_PER_CELL, via: str = "cli") -> str:
    """The report of `run_ids` on `split` as one HTML page, recorded in the audit as taken by
    `actor` (`via`: cli or dashboard)."""
    page = render(report_content(run_ids, split, per_cell), code_version())
    unique = list(dict.fromkeys(run_ids))
    record(actor, REPORT_ACTION, "runs " + ", ".join(str(run_id) for run_id in unique),
           f"{split} split, via {via}")
    return page


def write_report(run_ids: list[int], output: str | Path, actor: Actor, split: str = "test",
                 per_cell: int = WORST_PER_CELL) -> Path:
    """export_report() written to `output` whole (a crash leaves no half file)."""
    path = export_path(output, "-o")
    page = export_report(run_ids, actor, split, per_cell)
    try:
        atomic_write(path, page.encode("utf-8"), mode=0o600)  # it embeds patients' images
    except OSError as exc:
        raise UserError(f"cannot write the report to {path}: {exc.strerror}; choose another "
                        "-o FILE.html") from exc
    return path
