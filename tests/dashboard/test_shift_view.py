"""The shift view: val beside external evaluations on the Runs page, with the
probability histograms overlaid, the share outside the training population, PSI and KS, and an
adapted run marked transductive. Builders as plain functions; the page in headless Chromium."""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from dashboard import ids, shift_view
from tests.engine.evaluation.test_adapt import _new_site

WAIT_S = 30


def test_histograms_overlay_val_and_external() -> None:
    figure = shift_view.probability_histograms([
        {"name": "#1 val", "values": np.array([0.1, 0.9, 0.8])},
        {"name": "#1 nih", "values": pd.Series([0.6, 0.7])}])
    assert [trace.name for trace in figure.data] == ["#1 val", "#1 nih"]
    assert figure.layout.barmode == "overlay"
    empty = shift_view.probability_histograms([{"name": "#1 val", "values": []}])
    assert "cxr evaluate RUN --data DIR" in empty.layout.annotations[0].text


def test_external_table_shows_drift_and_origin() -> None:
    table = pd.DataFrame([
        {"evaluation_id": 2, "split": "external", "dataset": "nih", "n_images": 32, "auc": 0.6,
         "specificity": 0.4, "sensitivity": 0.9, "ece": 0.2, "outside_share": 0.25,
         "drift_psi": 0.812, "drift_ks": 0.43, "accuracy": 0.6, "shift": None},
        {"evaluation_id": 1, "split": "val", "dataset": "train", "n_images": 16, "auc": 0.9,
         "specificity": 0.8, "sensitivity": 0.9, "ece": 0.05, "outside_share": 0.0,
         "drift_psi": None, "drift_ks": None, "accuracy": 0.85, "shift": None}])
    text = str(shift_view.external_table("#3 run", table, "adapted from run 1 on nih "
                                                          "(transductive)"))
    assert "external: nih" in text and "0.812" in text and "0.430" in text
    assert "transductive" in text and "0.250" in text
    plain = str(shift_view.external_table("#1 run", table[table.split == "val"]))
    assert "no external evaluation yet" in plain


@pytest.fixture(scope="module")
def shift_store(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from db import shift
    from engine.evaluation.adaptation import adapt_run
    from engine.evaluation.evaluate import evaluate_run
    from engine.training.train import TrainConfig, main
    from tests.auth_helpers import ensure_user
    from tests.conftest import copy_subset, cxr_environment

    data = copy_subset(tmp_path_factory.mktemp("shift-subset"), per_class=40)
    site = _new_site(tmp_path_factory.mktemp("shift-site") / "nih-site")
    with cxr_environment(tmp_path_factory.mktemp("shift-home")) as home:
        ensure_user()
        source = main(TrainConfig(arch="small_cnn", data=str(data), epochs=1, image_size=64,
                                  batch_size=16, seed=0, name="plain"))
        external = evaluate_run(source, data_dir=str(site), device="cpu")
        adapted = adapt_run(source, str(site), device="cpu")
        table = shift.external_evaluations(source)
        url = os.environ.get("CXR_DATABASE_URL")
    return {"home": home, "url": url, "source": source, "adapted": adapted,
            "external": external, "table": table}


@pytest.fixture
def signed_in_browser(live_server: str, shift_store: dict,
                      monkeypatch: pytest.MonkeyPatch) -> Iterator:
    from tests.conftest import point_at
    from tests.dashboard.conftest import signed_in_chromium

    point_at(monkeypatch, shift_store["home"], shift_store["url"])
    with signed_in_chromium(live_server) as driver:
        yield driver


def _text(browser, element_id: str) -> str:  # noqa: ANN001
    """An element's text in one script call (Dash may re-render between two look-ups)."""
    return browser.execute_script(
        "const e = document.getElementById(arguments[0]); return e ? e.innerText : '';",
        element_id)


@pytest.mark.browser
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_runs_page_shows_external_beside_val(signed_in_browser, live_server: str,
                                             shift_store: dict) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    browser = signed_in_browser
    source, adapted = shift_store["source"], shift_store["adapted"]
    external = shift_store["table"][shift_store["table"].split == "external"].iloc[0]
    browser.get(f"{live_server}/?runs={source},{adapted}")
    text = WebDriverWait(browser, WAIT_S).until(
        lambda b: (lambda t: t if t.count("external: ") >= 2 else None)(
            _text(b, ids.RUNS_EXTERNAL_TABLES)))
    assert f"{external.drift_psi:.3f}" in text and f"{external.drift_ks:.3f}" in text
    assert f"{external.outside_share:.3f}" in text
    assert f"adapted from run {source} on nih-site (transductive)" in text
    traces = WebDriverWait(browser, WAIT_S).until(lambda b: b.execute_script(
        "const plot = document.querySelector(`#${arguments[0]} .js-plotly-plot`);"
        "return plot && plot.data ? plot.data.map(trace => trace.name) : null;",
        ids.RUNS_EXTERNAL_HISTOGRAM))
    assert f"#{source} val" in traces and f"#{source} nih-site" in traces
    # The Runs table marks the adapted run in its Origin column.
    WebDriverWait(browser, WAIT_S).until(lambda b: "transductive" in _text(b, ids.RUNS_TABLE))
