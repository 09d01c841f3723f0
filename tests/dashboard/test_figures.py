"""Figure and component builders, and the dashboard's numeric helpers, as plain functions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from sklearn.metrics import accuracy_score, f1_score, recall_score, roc_auc_score

from dashboard import figures, views
from db import evaluations, gallery, runs
from engine.evaluation import stats


def _arrays(trained_home: dict, split: str = "test"):
    evaluation_id = evaluations.evaluation_id_for(trained_home["run_ids"][0], split)
    scored = evaluations.evaluation_arrays(evaluation_id)
    return (scored.probability, scored.true_label), evaluation_id


def test_run_overlays_from_real_runs(trained_home: dict) -> None:
    (probability, labels), evaluation_id = _arrays(trained_home)
    roc = evaluations.evaluation_roc(evaluation_id)
    auc = roc_auc_score(labels, probability)
    figure = figures.roc_overlay([{"name": "run", "fpr": roc["fpr"], "tpr": roc["tpr"],
                                   "auc": auc}])
    assert f"AUC {auc:.3f}" in figure.data[1].name
    pr = stats.pr_curve_points(labels, probability)
    assert figures.pr_overlay([{"name": "run", **pr}]).data[0].name.startswith("run (AP")
    reliability = stats.reliability_points(labels, probability)
    assert all(0 <= v <= 1 for v in reliability["fraction_positive"])
    assert len(figures.calibration_overlay([{"name": "r", **reliability, "ece": 0.1}]).data) == 2
    epochs = runs.epochs_for(trained_home["run_ids"])
    training = figures.training_curves(epochs, {})
    assert len(training.data) == 3 * len(trained_home["run_ids"])


def test_empty_inputs_give_a_message_not_a_blank_chart() -> None:
    for figure in (figures.roc_overlay([]), figures.pr_overlay([]),
                   figures.calibration_overlay([]),
                   figures.training_curves(pd.DataFrame(columns=["run_id"]), {}),
                   figures.roc_with_operating_point(None, None, 0, 0, 0.5)):
        assert figure.layout.annotations and figure.layout.annotations[0].text


def test_operating_point_lies_on_the_threshold(trained_home: dict) -> None:
    (probability, labels), evaluation_id = _arrays(trained_home)
    fpr, tpr = stats.operating_point(labels, probability, 0.5)
    predicted = probability >= 0.5
    assert tpr == recall_score(labels, predicted)
    figure = figures.roc_with_operating_point(evaluations.evaluation_roc(evaluation_id), 0.8, fpr,
                                              tpr, 0.5)
    point = figure["data"][-1]
    assert point["x"] == [fpr] and point["y"] == [tpr]
    assert figure["data"][1]["x"] == evaluations.evaluation_roc(evaluation_id)["fpr"]
    # Plain JSON, but a valid figure: plotly accepts every property of it.
    validated = go.Figure(figure)
    assert validated.layout.title.text == "ROC (AUC 0.800)"
    assert validated.layout.template.layout.paper_bgcolor == "white"


def test_bootstrap_deltas_point_estimates_match_scikit_learn(trained_home: dict) -> None:
    run_a, run_b = trained_home["run_ids"]
    pairs = evaluations.paired_predictions(evaluations.evaluation_id_for(run_a, "test"),
                                       evaluations.evaluation_id_for(run_b, "test"))
    labels = pairs.true_label.to_numpy()
    a, b = pairs.probability_a.to_numpy(), pairs.probability_b.to_numpy()
    deltas = {d.metric: d for d in stats.bootstrap_deltas(labels, a, 0.5, b, 0.4,
                                                          n_resamples=300)}
    expected = {
        "accuracy": accuracy_score(labels, b >= 0.4) - accuracy_score(labels, a >= 0.5),
        "sensitivity": recall_score(labels, b >= 0.4) - recall_score(labels, a >= 0.5),
        "f1": f1_score(labels, b >= 0.4) - f1_score(labels, a >= 0.5),
    }
    for metric, value in expected.items():
        assert np.isclose(deltas[metric].delta, value)
        assert deltas[metric].low <= deltas[metric].high
    # Without ties the rank-sum AUC is exactly scikit-learn's.
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 2, 200), rng.random(200)
    (auc,) = [d for d in stats.bootstrap_deltas(y, p, 0.5, p, 0.5, n_resamples=50)
              if d.metric == "roc_auc"]
    assert np.isclose(auc.value_a, roc_auc_score(y, p)) and auc.delta == 0
    assert auc.low == auc.high == 0  # identical runs: the interval collapses


def test_agreement_cells_partition() -> None:
    labels = np.array([0, 1, 1, 0, 1])
    cells = stats.agreement_cells(labels, np.array([0, 1, 0, 1, 1]) == 1,
                                  np.array([0, 0, 1, 1, 1]) == 1)
    assert sum(mask.sum() for mask in cells.values()) == len(labels)
    assert list(np.flatnonzero(cells["right-wrong"])) == [1]
    assert list(np.flatnonzero(cells["wrong-right"])) == [2]


def test_views_render_plain_components(trained_home: dict) -> None:
    assert "cxr demo" in str(views.empty_state("runs"))
    assert views.synthetic_badge(False) is None
    assert "SYNTHETIC" in str(views.synthetic_badge(True))
    (probability, labels), evaluation_id = _arrays(trained_home)
    items = gallery.cell_images(evaluation_id, "tn", 1.01, limit=3).items
    rendered = str(views.gallery(items, overlay=True, selected_image=items[0].image_id))
    assert f"/files/cam-thumb/{items[0].prediction_id}" in rendered
    assert "cxr-selected" in rendered
    assert "No images" in str(views.gallery([], False, None))
