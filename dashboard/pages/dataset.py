"""Dataset: class balance and patients per split, subtypes, the leakage check, skipped files."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, callback, dash_table, dcc, html

from dashboard import figures, ids, views
from dashboard.url_state import parse_int
from db import datasets
from db import splits as splits_db

dash.register_page(__name__, path="/dataset", name="Dataset", order=3,
                   title="CXR Lens · Dataset", role="viewer")


def layout(dataset: str | None = None, **_query: str) -> html.Div:
    found = datasets.datasets()
    if not found:
        return views.empty_state("datasets")
    chosen = parse_int(dataset)
    chosen = chosen if chosen in {d.id for d in found} else found[-1].id
    return html.Div([
        html.H3("Dataset"),
        dbc.Card(dbc.CardBody(dbc.Row([
            dbc.Col([dbc.Label("Dataset"), dcc.Dropdown(
                id=ids.DS_DATASET, value=chosen, clearable=False,
                options=[{"label": f"{d.name}{' (synthetic)' if d.synthetic else ''}",
                          "value": d.id} for d in found])], md=6),
        ])), className="cxr-card mb-3"),
        dcc.Loading(html.Div(id=ids.DS_BODY)),
    ])


def patients_table(balance: pd.DataFrame, patients: pd.DataFrame) -> dbc.Table:
    images = balance.groupby(["subset", "label"])["images"].sum()
    rows = []
    for subset in ("train", "val", "test"):
        cells = [html.Td(subset)]
        for label in (0, 1):
            count = int(images.get((subset, label), 0))
            match = patients[(patients.subset == subset) & (patients.label == label)]
            cells += [html.Td(f"{count:,}"),
                      html.Td(f"{int(match.patients.sum()) if not match.empty else 0:,}")]
        total = sum(int(images.get((subset, label), 0)) for label in (0, 1))
        pneumonia = int(images.get((subset, 1), 0))
        cells.append(html.Td(f"{pneumonia / total:.1%}" if total else "–"))
        rows.append(html.Tr(cells))
    head = html.Thead(html.Tr([html.Th(h) for h in (
        "Split", "NORMAL images", "NORMAL patients", "PNEUMONIA images", "PNEUMONIA patients",
        "% pneumonia")]))
    return dbc.Table([head, html.Tbody(rows)], size="sm", striped=True, id="patients-table")


def leakage_result(split_id: int, leaked: list[str],
                   duplicates: list[str] | None = None) -> dbc.Alert:
    """The leakage check: patients, and identical images under any name, in two subsets."""
    duplicates = duplicates or []
    if not leaked and not duplicates:
        return dbc.Alert([html.Strong("No patient leakage. "),
                          f"Split {split_id}: no patient and no identical image has copies in "
                          "more than one of train, val and test."], color="success",
                         id="leakage-result")
    parts = []
    if leaked:
        parts += [html.Strong(f"Patient leakage: {len(leaked)} patients "),
                  f"appear in more than one subset of split {split_id}: {_first(leaked)}. "]
    if duplicates:
        parts += [html.Strong(f"Identical images: {len(duplicates)} "),
                  f"sit in more than one subset of split {split_id}: {_first(duplicates)}"]
    return dbc.Alert(parts, color="danger", id="leakage-result")


def _first(names: list[str], shown: int = 20) -> str:
    return ", ".join(names[:shown]) + (" …" if len(names) > shown else "")


@callback(Output(ids.DS_BODY, "children"), Input(ids.DS_DATASET, "value"))
def show_dataset(dataset_id: int):
    info = next((d for d in datasets.datasets() if d.id == dataset_id), None)
    if info is None:
        return dbc.Alert(f"Dataset {dataset_id} is not in the database.", color="warning")
    header = dbc.Card(dbc.CardBody([
        html.H5([info.name, views.synthetic_badge(info.synthetic)]),
        html.Div(["Root ", html.Code(info.root)], className="small"),
        html.Div(f"{info.n_ok:,} usable images, {info.n_skipped:,} skipped files",
                 className="mt-1"),
    ]), className="cxr-card mb-3")
    sections = [header]
    splits = splits_db.splits_of(dataset_id)
    if splits.empty:
        sections.append(dbc.Alert("No split yet: one is made by the first `cxr train` on this "
                                  "dataset.", color="info"))
    for split in splits.itertuples():
        balance = splits_db.split_balance(split.split_id)
        patients = splits_db.split_patient_counts(split.split_id)
        sections.append(dbc.Card([
            dbc.CardHeader(f"Split {split.split_id}: seed {split.seed}, val "
                           f"{split.val_fraction:.0%}, test {split.test_fraction:.0%}"
                           f"{' (official test/ folder)' if split.test_fraction == 0 else ''}"),
            dbc.CardBody([
                leakage_result(split.split_id, splits_db.leaked_patients(split.split_id),
                               splits_db.leaked_duplicates(split.split_id)),
                patients_table(balance, patients),
                dbc.Row([
                    dbc.Col(dcc.Graph(figure=figures.class_balance(balance)), lg=6),
                    dbc.Col(dcc.Graph(figure=figures.subtype_breakdown(balance)), lg=6),
                ]),
            ]),
        ], className="cxr-card mb-3"))
    skipped = datasets.skipped_files(dataset_id)
    if skipped.empty:
        body = html.Div("No skipped files: every file decoded.", className="text-muted")
    else:
        reasons = datasets.skip_kinds(dataset_id)
        shown = (f"The first {len(skipped):,} of {info.n_skipped:,} are listed; `cxr ingest "
                 f"{info.root}` prints how many of each kind, and the first files." if
                 info.n_skipped > len(skipped) else "Every skipped file is listed below.")
        body = [html.Ul([html.Li(f"{count} × {reason}") for reason, count in reasons.items()],
                        id="skip-kinds"),
                html.Div(shown, className="small text-muted mb-2"),
                dash_table.DataTable(data=skipped.to_dict("records"), page_size=15,
                                     columns=[{"id": c, "name": c.title()}
                                              for c in skipped.columns],
                                     sort_action="native", filter_action="native",
                                     style_cell={"fontSize": 13, "textAlign": "left"},
                                     id="skipped-table")]
    sections.append(dbc.Card([dbc.CardHeader(f"Skipped files ({info.n_skipped:,})"),
                              dbc.CardBody(body)], className="cxr-card"))
    return sections
