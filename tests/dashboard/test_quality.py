"""Model quality in the dashboard: ensembles as runs, calibration, threshold rules and robustness
checks, on a store of their own (two small CNNs, their ensemble, a blur check on val)."""

from __future__ import annotations

from dashboard import figures, ids, views
from db import attention, evaluations, gallery, images, robustness, run_table, runs
from tests.dashboard import dash_http


def test_shift_evaluations_stay_out_of_the_val_and_test_views(quality_home: dict) -> None:
    run_id = quality_home["run_ids"][0]
    shift_evaluation = quality_home["shift_evaluation"]
    assert evaluations.evaluation_splits(run_id) == ["val", "test"]
    clean_val = evaluations.evaluation_id_for(run_id, "val")
    assert clean_val != shift_evaluation and clean_val < shift_evaluation  # newer, yet not val
    assert runs.latest_evaluation_ids([run_id]) == {
        (run_id, "val"): clean_val, (run_id, "test"): evaluations.evaluation_id_for(run_id, "test")}
    row = run_table.runs_table([run_id]).iloc[0]
    metrics = evaluations.evaluation_metrics(clean_val).set_index("threshold_rule").loc[
        runs.get_run(run_id).threshold_rule]
    assert row.val_roc_auc == metrics.roc_auc and row.val_accuracy == metrics.accuracy
    # Every run's probability for a val image: the clean val only, never the shifted copy.
    image_id = gallery.cell_images(clean_val, "tn", 1.01, limit=1).items[0].image_id
    predictions = images.image_predictions(image_id)
    assert set(predictions.split) == {"val"}
    assert shift_evaluation not in set(predictions.evaluation_id)
    assert set(predictions.run_id) == {*quality_home["run_ids"], quality_home["ensemble_id"]}


def test_ensemble_is_a_marked_run_with_its_members(quality_home: dict) -> None:
    ensemble_id, members = quality_home["ensemble_id"], quality_home["run_ids"]
    table = run_table.runs_table().set_index("run_id")
    row = table.loc[ensemble_id]
    assert row.arch == "ensemble" and row.is_ensemble
    assert row.members == f"#{members[0]} small_cnn + #{members[1]} small_cnn (prob)"
    assert row.val_roc_auc is not None and row.test_roc_auc is not None
    assert not table.loc[members].is_ensemble.any() and table.loc[members].members.isna().all()
    summary = runs.find_run(ensemble_id)
    assert summary.is_ensemble and ensemble_id in {run.id for run in runs.run_summaries()}
    # Its Grad-CAM is the members' mean, measured like any run's.
    figures_ = attention.attention_by_run([ensemble_id], "test")[ensemble_id]
    assert figures_["cam_border_share"] is not None


def test_calibration_and_threshold_rule_are_in_the_table(quality_home: dict) -> None:
    table = run_table.runs_table().set_index("run_id")
    for run_id in quality_home["run_ids"]:
        row = table.loc[run_id]
        assert row.threshold_rule == "youden" and row.temperature > 0
        assert 0 <= row.val_ece_uncalibrated <= 1 and 0 <= row.val_ece <= 1
        assert row.recipe is None and not row.tta
    rendered = str(views.calibration_table(table.reset_index()))
    ensemble = table.loc[quality_home["ensemble_id"]]
    assert f"{ensemble.temperature:.2f}" in rendered and "ensemble" in rendered
    assert f"{table.iloc[0].val_ece_uncalibrated:.3f} → {table.iloc[0].val_ece:.3f}" in rendered


def test_shift_table_chart_and_view(quality_home: dict) -> None:
    run_id = quality_home["run_ids"][0]
    table = robustness.shift_table(run_id)
    assert list(table["shift"]) == ["none", "blur"]
    blur = table.set_index("shift").loc["blur"]
    assert blur.evaluation_id == quality_home["shift_evaluation"]
    assert 0 <= blur.sensitivity <= 1 and 0 <= blur.specificity <= 1
    chart = figures.shift_chart([{"name": "run", "table": table}])
    assert len(chart.data) == len(figures.SHIFT_METRICS)
    assert list(chart.data[0].x) == ["clean val", "blur"]
    assert list(chart.data[0].y) == list(table.auc)
    rendered = str(views.shift_table("run", table))
    assert "blur" in rendered and "clean val" in rendered
    # A run without checks says how to make them, in the chart and in the table.
    other = robustness.shift_table(quality_home["run_ids"][1])
    assert list(other["shift"]) == ["none"]
    assert "--shift all" in str(views.shift_table("other", other))
    assert figures.shift_chart([{"name": "other", "table": other}]).layout.annotations


def test_runs_table_callback_marks_ensembles_and_follows_the_split(client,
                                                                   quality_home: dict) -> None:
    deps = dash_http.dependencies(client)
    for split in ("val", "test"):
        status, body = dash_http.post(client, dash_http.runs_table_body(deps, split))
        assert status == 200
        rows = {row["id"]: row for row in body["response"][ids.RUNS_TABLE]["data"]}
        columns = {c["id"]: c["name"] for c in body["response"][ids.RUNS_TABLE]["columns"]}
        assert columns["cam_lung_share"] == f"CAM {split}: lung share"
        assert set(rows) == {*quality_home["run_ids"], quality_home["ensemble_id"]}
        assert rows[quality_home["ensemble_id"]]["members"].startswith("#")
        for run_id, row in rows.items():
            expected = attention.attention_by_run([run_id], split)[run_id]
            assert row["cam_peak_in_lung"] == expected["cam_peak_in_lung"]
    status, _ = dash_http.post(client, dash_http.runs_table_body(deps, refresh=True))
    assert status == 200
