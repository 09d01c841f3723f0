"""Component ids, one constant each, prefixed by page. Pattern-matching ids use a `type` key."""

# Shell
ERROR_ALERT = "shell-error-alert"
NAVBAR = "shell-navbar"
SIGN_OUT = "shell-sign-out"

# Runs
RUNS_TABLE = "runs-table"
RUNS_SPLIT = "runs-split"
RUNS_REFRESH = "runs-refresh"
RUNS_ROC = "runs-roc"
RUNS_PR = "runs-pr"
RUNS_TRAINING = "runs-training"
RUNS_CALIBRATION = "runs-calibration"
RUNS_HINT = "runs-hint"
RUNS_LUNG_HISTOGRAM = "runs-lung-histogram"
RUNS_SHIFT = "runs-shift"
RUNS_SHIFT_TABLES = "runs-shift-tables"
RUNS_CALIBRATION_TABLE = "runs-calibration-table"
RUNS_EXTERNAL_HISTOGRAM = "runs-external-histogram"
RUNS_EXTERNAL_TABLES = "runs-external-tables"
RUNS_REPORT = "runs-report"  # the Download report button (dashboard/report_files.py)

# Errors
ERR_RUN = "errors-run"
ERR_SPLIT = "errors-split"
ERR_THRESHOLD = "errors-threshold"
ERR_PRESET = "errors-preset"  # pattern: {"type": ERR_PRESET, "rule": a threshold rule}
ERR_RUN_BADGES = "errors-run-badges"
ERR_ROC = "errors-roc"
ERR_METRICS = "errors-metrics"
ERR_CELL = "errors-cell"  # pattern: {"type": ERR_CELL, "cell": "tn" | "fp" | "fn" | "tp"}
ERR_CELL_COUNT = "errors-cell-count"  # pattern: {"type": ERR_CELL_COUNT, "cell": ...}
ERR_SELECTED_CELL = "errors-selected-cell"
ERR_SELECTED_IMAGE = "errors-selected-image"
ERR_GALLERY = "errors-gallery"
ERR_GALLERY_TITLE = "errors-gallery-title"
ERR_GALLERY_ITEM = "errors-gallery-item"  # pattern: {"type": ..., "image": image_id}
ERR_SORT = "errors-sort"
ERR_OVERLAY = "errors-overlay"
ERR_PAGE = "errors-page"
ERR_DETAIL = "errors-detail"
ERR_URL_SYNC = "errors-url-sync"
ERR_OUTSIDE = "errors-outside"  # attention filter: min share of the CAM outside the lungs
ERR_SUSPECTS = "errors-suspects"
ERR_POPULATION = "errors-population"  # typicality filter: all / outside / inside
ERR_SLICE = "errors-slice"  # the chosen slice's key (engine/evaluation/slices.py), or None
ERR_SLICES = "errors-slices"
ERR_SLICE_ROW = "errors-slice-row"  # pattern: {"type": ERR_SLICE_ROW, "slice": slice key}
ERR_SLICE_CLEAR = "errors-slice-clear"
ERR_SLICE_MIN = "errors-slice-min"  # minimum slice size for a finding
ERR_CHOSEN = "errors-chosen"  # image ids chosen on the Map page (gallery cell "chosen")

# Map
MAP_RUN = "map-run"
MAP_SPLIT = "map-split"
MAP_COLOUR = "map-colour"
MAP_THRESHOLD = "map-threshold"
MAP_GRAPH = "map-graph"
MAP_NOTE = "map-note"
MAP_SELECTION = "map-selection"
MAP_GO = "map-go"  # a location: a click on a point opens its image on the Errors page
MAP_URL_SYNC = "map-url-sync"
LOOKALIKES = "lookalikes"

# Review form (inside the image detail)
REVIEW_VERDICT = "review-verdict"
REVIEW_NOTE = "review-note"
REVIEW_REVIEWER = "review-reviewer"  # shows the signed-in reviewer's name
REVIEW_SAVE = "review-save"
REVIEW_STATUS = "review-status"
REVIEW_LIST = "review-list"

# Compare
CMP_RUN_A = "compare-run-a"
CMP_RUN_B = "compare-run-b"
CMP_SPLIT = "compare-split"
CMP_MATRIX = "compare-matrix"
CMP_CELL = "compare-cell"  # pattern: {"type": CMP_CELL, "cell": "right-right" | ...}
CMP_SELECTED_CELL = "compare-selected-cell"
CMP_FLIPS = "compare-flips"
CMP_DELTAS = "compare-deltas"
CMP_URL_SYNC = "compare-url-sync"
CMP_ATTENTION = "compare-attention"
CMP_ATTENTION_SUMMARY = "compare-attention-summary"
CMP_REPORT = "compare-report"  # the Download report button (dashboard/report_files.py)
CMP_SLICES = "compare-slices"
CMP_SLICE_MIN = "compare-slice-min"

# Dataset
DS_DATASET = "dataset-dataset"
DS_BODY = "dataset-body"

# Score
SCORE_RUNS = "score-runs"
SCORE_UPLOAD = "score-upload"
SCORE_RESULTS = "score-results"
SCORE_HISTORY = "score-history"
SCORE_ANALYST = "score-analyst"
SCORE_LABEL = "score-label"  # pattern: {"type": SCORE_LABEL, "upload": upload_id}
SCORE_LABEL_STATUS = "score-label-status"
SCORE_BROWSER_ERROR = "score-browser-error"
SCORE_LIMIT = "score-limit"
SCORE_GUARD = "score-guard"
SCORE_FORCE = "score-force"  # "Score anyway": override the input checks
SCORE_CHALLENGERS = "score-challengers"  # also score with every other completed run
RUNS_ALIASES = "runs-aliases"  # the aliases card on the Runs page
RUNS_PROMOTE_RUN = "runs-promote-run"
RUNS_PROMOTE_ALIAS = "runs-promote-alias"
RUNS_PROMOTE_FORCE = "runs-promote-force"
RUNS_PROMOTE = "runs-promote"
RUNS_PROMOTE_STATUS = "runs-promote-status"
RUNS_DEMOTE = "runs-demote"  # pattern id: {"type": RUNS_DEMOTE, "alias": NAME}
RUNS_COLUMN_DEFAULTS = "runs-column-defaults"  # the default visible columns, per split
RUNS_COLUMNS_HINT = "runs-columns-hint"

# Suspected label errors (the Errors page's queue, dashboard/label_queue.py)
LQ_RUN = "label-queue-run"
LQ_LIST = "label-queue-list"
LQ_STATUS = "label-queue-status"
LQ_SAVED = "label-queue-saved"  # bumped by each saved verdict: the list reloads
LQ_VERDICT = "label-queue-verdict"  # pattern: {"type": ..., "image": image_id, "verdict": ...}
