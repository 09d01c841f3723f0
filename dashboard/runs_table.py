"""The Runs page's table: its columns, its rows, and their cache (no callbacks here, so tests and
benches can import it without an app)."""

from __future__ import annotations

from dash.dash_table.Format import Format, Scheme

from db import attention, run_table
from db.registry import aliases_by_run, aliases_signature
from db.session import database_url
from db.shift import run_origins

# In the order a lead compares runs; the first five are shown by default for the chosen split.
METRIC_LABELS = {"accuracy": "acc", "sensitivity": "sens", "specificity": "spec",
                 "roc_auc": "AUC", "ece": "ECE", "f1": "F1"}
DEFAULT_METRICS = ("accuracy", "sensitivity", "specificity", "roc_auc", "ece")
# What a lead compares comes first; the configuration follows, hidden until chosen.
LEAD_COLUMNS = (("run_id", "Run", None), ("name", "Name", None), ("alias", "Alias", None),
                ("origin", "Origin", None), ("health", "Health", None))
CONFIG_COLUMNS = (("arch", "Architecture", None),
                  ("members", "Ensemble of", None), ("recipe", "Recipe", None),
                  ("status", "Status", None),
                  ("dataset", "Dataset", None),
                  ("data_kind", "Data", None), ("image_size", "Image px", None),
                  ("batch_size", "Batch", None), ("schedule", "LR schedule", None),
                  ("seed", "Seed", None), ("epochs", "Epochs", None),
                  ("best_epoch", "Best epoch", None), ("duration_s", "Duration s", 0),
                  ("threshold", "Threshold", 3), ("threshold_rule", "Threshold rule", None),
                  ("temperature", "Temperature", 2))
BASE_COLUMNS = LEAD_COLUMNS + CONFIG_COLUMNS
# Never hidden: a row must say which run it is.
FIXED_COLUMNS = ("run_id", "name")
# Filled per request, not read from run_table.run_records().
DERIVED_COLUMNS = ("data_kind", "origin", "alias")
# Run-level Grad-CAM figures (db/attention.py) of the newest evaluation of the chosen split.
CAM_LABELS = (("cam_border_share", "border share"), ("cam_lung_share", "lung share"),
              ("cam_lung_share_correct", "lung share (right)"),
              ("cam_lung_share_wrong", "lung share (wrong)"),
              ("cam_peak_in_lung", "pointing hit"),
              ("cam_peak_in_lung_correct", "pointing hit (right)"),
              ("cam_peak_in_lung_wrong", "pointing hit (wrong)"),
              ("cam_road", "ROAD"), ("cam_road_n", "ROAD n"), ("cam_lesion_hit", "lesion hit"))
SPLITS = ("val", "test")


def _numeric(key: str, name: str, digits: int = 3) -> dict:
    return {"id": key, "name": name, "type": "numeric",
            "format": Format(precision=digits, scheme=Scheme.fixed)}


def _column(key: str, name: str, digits: int | None) -> dict:
    column = _numeric(key, name, digits) if digits is not None else {"id": key, "name": name}
    return column if key in FIXED_COLUMNS else {**column, "hideable": True}


def table_columns(cam_split: str = "test") -> list[dict]:
    """Every column: the lead's first (the chosen split's metrics before the other split's),
    then the configuration, then the CAM figures. All but the run and name can be hidden."""
    splits = [cam_split, *(split for split in SPLITS if split != cam_split)]
    columns = [_column(key, name, digits) for key, name, digits in LEAD_COLUMNS]
    for split in splits:
        for metric, label in METRIC_LABELS.items():
            columns.append(_column(f"{split}_{metric}", f"{split} {label}", 3))
        columns.append(_column(f"{split}_ece_uncalibrated", f"{split} ECE uncal.", 3))
    columns += [_column(key, name, digits) for key, name, digits in CONFIG_COLUMNS]
    for key, label in CAM_LABELS:
        columns.append(_column(key, f"CAM {cam_split}: {label}", 0 if key == "cam_road_n"
                               else 3))
    return columns


def default_visible(split: str) -> list[str]:
    """What the table shows before anyone chooses: what a lead compares on `split`."""
    return [key for key, _, _ in LEAD_COLUMNS] + [f"{split}_{m}" for m in DEFAULT_METRICS]


def hidden_columns(split: str, visible: str | None = None) -> list[str]:
    """The columns to hide: all but `visible` (the URL's comma-separated `cols`, unknown ids
    dropped), or all but the defaults for `split` when it names none."""
    every = [column["id"] for column in table_columns(split)]
    shown = {part for part in (visible or "").split(",") if part in every}
    shown = (shown or set(default_visible(split))) | set(FIXED_COLUMNS)
    return [key for key in every if key not in shown]


def table_records(records: list[dict], cam_split: str = "test") -> list[dict]:
    """DataTable rows from run_table.run_records(), with the run-level CAM figures of each run's
    `cam_split` evaluation. `id` is the run id (selection survives sorting and filtering). NaN
    needs no scrubbing: Dash's plotly JSON encoder writes it as null, an empty cell."""
    evaluation_ids = [record[f"{cam_split}_evaluation_id"] for record in records]
    cam = attention.evaluations_attention([e for e in evaluation_ids if e is not None])
    empty = dict.fromkeys(key for key, _ in CAM_LABELS)
    shown = [column["id"] for column in table_columns(cam_split)
             if column["id"] not in empty and column["id"] not in DERIVED_COLUMNS]
    origins = run_origins([record["run_id"] for record in records])
    held = aliases_by_run()
    # Only what the table shows (and exports): the response is the dashboard's largest.
    return [{"id": record["run_id"], **{key: record[key] for key in shown},
             "data_kind": "SYNTHETIC" if record["synthetic"] else "real",
             "health_warning": record["health_warning"],
             "origin": origins[record["run_id"]].label if record["run_id"] in origins else "",
             "alias": ", ".join(held.get(record["run_id"], ())),
             **{key: figures_.get(key) for key in empty}}
            for record, figures_ in zip(records, (cam.get(e, empty) if e is not None else empty
                                                  for e in evaluation_ids), strict=True)]


def health_tooltips(rows: list[dict]) -> list[dict]:
    """Per-row tooltips: the full health warning behind a row's Health badge."""
    return [{"health": {"value": row["health_warning"], "type": "text"}}
            if row.get("health_warning") else {} for row in rows]


# (database url, runs_signature(), split) -> DataTable rows. The Runs table is the dashboard's
# biggest response (1,000 runs x 50 columns); rebuilding it costs ~60 ms, checking the
# signature ~1 ms. A few entries: one per split of the newest signature, per database.
_TABLE_ROWS: dict[tuple, list[dict]] = {}
_TABLE_ROWS_MAX = 8


def cached_table_rows(split: str) -> list[dict]:
    key = (database_url(), run_table.runs_signature(), aliases_signature(), split)
    rows = _TABLE_ROWS.get(key)
    if rows is None:
        rows = table_records(run_table.run_records(), split)
        if len(_TABLE_ROWS) >= _TABLE_ROWS_MAX:
            _TABLE_ROWS.clear()
        _TABLE_ROWS[key] = rows
    return rows


def clear_table_cache() -> None:
    _TABLE_ROWS.clear()
