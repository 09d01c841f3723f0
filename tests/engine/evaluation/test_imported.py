"""`cxr import-predictions`: a model of another framework (scikit-learn) becomes an external run
on our run's split, with scikit-learn's metrics, paired with ours; bad files are one line."""

from __future__ import annotations

import hashlib
import io
import math
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import confusion_matrix, roc_auc_score, roc_curve

from db import evaluations, imported, runs
from db.errors import UserError
from db.splits import split_images
from engine.cli.main import main as cli_main
from engine.evaluation.predictions_file import read_predictions
from tests.conftest import point_at
from tests.imported_fixtures import UNKNOWN_PATH

EXTERNAL_REFUSAL = "external model: no checkpoint, no Grad-CAM"


@pytest.fixture(autouse=True)
def _store(imported_home: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    point_at(monkeypatch, imported_home["home"], imported_home["url"])


def _cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli_main(list(args))
    return code, out.getvalue(), err.getvalue()


def _label_from_folder(path: str) -> int:
    return int(Path(path).parent.name == "PNEUMONIA")  # the truth, read without the database


def test_import_is_an_external_run_on_our_split(imported_home: dict) -> None:
    external = runs.get_run(imported_home["external"])
    assert (external.arch, external.status, external.checkpoint_path) == (
        "external", "completed", None)
    assert external.is_external and external.split_id == imported_home["split_id"]
    assert external.label.endswith("(external)")
    for split in ("val", "test"):
        pairs = evaluations.paired_predictions(
            evaluations.evaluation_id_for(imported_home["ours"], split),
            evaluations.evaluation_id_for(external.id, split))
        ours = evaluations.evaluation_arrays(
            evaluations.evaluation_id_for(imported_home["ours"], split))
        assert len(pairs) == len(ours.probability) > 0  # every image paired with ours
    record = imported.import_record(external.id)
    assert (record.n_unknown, record.n_train, record.source_name) == (1, 1, "sklearn.csv")
    assert record.n_rows == len(imported_home["scored"]) + 2
    assert not record.threshold_from_file


def test_metrics_are_scikit_learns_on_the_file(imported_home: dict) -> None:
    scored = imported_home["scored"]
    probability = [float(f"{p:.6f}") for p in imported_home["probability"]]  # as the CSV has it
    subset = {image.image_id: split for split in ("val", "test")
              for image in split_images(imported_home["split_id"], split)}
    external = runs.get_run(imported_home["external"])
    by_split = {split: [(_label_from_folder(image.path), p)
                        for image, p in zip(scored, probability, strict=True)
                        if subset[image.image_id] == split] for split in ("val", "test")}
    val_labels, val_probability = map(np.array, zip(*by_split["val"], strict=True))
    fpr, tpr, thresholds = roc_curve(val_labels, val_probability)
    youden = float(np.clip(thresholds[int(np.argmax(tpr - fpr))], 0, 1))
    assert external.threshold_rule == "youden"
    assert external.threshold == youden
    for split, pairs in by_split.items():
        labels, probabilities = map(np.array, zip(*pairs, strict=True))
        stored = evaluations.evaluation_metrics(
            evaluations.evaluation_id_for(external.id, split)).set_index("threshold_rule")
        row = stored.loc["youden"]
        assert row.roc_auc == pytest.approx(roc_auc_score(labels, probabilities), abs=1e-6)
        tn, fp, fn, tp = confusion_matrix(labels, probabilities >= external.threshold,
                                          labels=[0, 1]).ravel()
        assert (row.tn, row.fp, row.fn, row.tp) == (tn, fp, fn, tp)


def test_cli_reports_unknown_rows_and_training_rows(imported_home: dict) -> None:
    printed = imported_home["printed"]
    last_line = len(imported_home["scored"]) + 3  # header, rows, the train row, the unknown
    assert f"1 of {last_line - 1} rows name no usable registered image" in printed
    assert f"line {last_line}: {UNKNOWN_PATH}" in printed
    assert "1 rows are images of the split's train subset" in printed
    assert "no checkpoint, no Grad-CAM" in printed


def test_sha256_rows_and_a_threshold_column(imported_home: dict, tmp_path: Path) -> None:
    scored, probability = imported_home["scored"], imported_home["probability"]
    lines = ["sha256,Probability,threshold"] + [
        f"{hashlib.sha256(Path(i.path).read_bytes()).hexdigest().upper()},{p:.6f},0.4"
        for i, p in zip(scored, probability, strict=True)]
    predictions = tmp_path / "by-content.csv"
    predictions.write_text("\n".join(lines) + "\n")
    code, out, err = _cli("import-predictions", str(predictions), "--name", "by-content",
                          "--split-of", str(imported_home["ours"]))
    assert code == 0, err
    run = runs.run_summaries()[0]
    assert (run.name, run.threshold, run.threshold_rule) == ("by-content", 0.4, "fixed:0.4")
    for split in ("val", "test"):
        by_path = evaluations.paired_predictions(
            evaluations.evaluation_id_for(imported_home["external"], split),
            evaluations.evaluation_id_for(run.id, split))
        assert np.allclose(by_path.probability_a, by_path.probability_b)
        assert len(by_path) == len(evaluations.evaluation_arrays(
            evaluations.evaluation_id_for(run.id, split)).probability)
    assert "warning" not in out


def _bad_files(imported_home: dict) -> dict[str, tuple[str, str]]:
    image = imported_home["scored"][0]
    path = Path(image.path).relative_to(imported_home["data"]).as_posix()
    digest = hashlib.sha256(Path(image.path).read_bytes()).hexdigest()
    other = Path(imported_home["scored"][1].path).relative_to(imported_home["data"]).as_posix()
    return {
        "no probability column": (f"path,score\n{path},0.3\n", "no probability column"),
        "no image column": ("file,probability\nx.jpeg,0.3\n", "neither a path nor a sha256"),
        "above one": (f"path,probability\n{path},1.5\n", "line 2: probability '1.5' is outside"),
        "not a number": (f"path,probability\n{path},high\n", "line 2: probability 'high' is not"),
        "nan": (f"path,probability\n{path},nan\n", "line 2: probability 'nan' is outside"),
        "empty probability": (f"path,probability\n{path},\n", "line 2: no probability"),
        "duplicate path": (f"path,probability\n{path},0.2\n./{path},0.3\n",
                           "line 3: " + f"./{path}"[2:] + f" is image {path}, already given on "
                           "line 2; give each image once"),
        "duplicate by content": (f"path,sha256,probability\n{path},,0.2\n,{digest},0.3\n",
                                 f"line 3: sha256 {digest} is image {path}, already given on "
                                 "line 2"),
        "two thresholds": (f"path,probability,threshold\n{path},0.2,0.3\n{other},0.3,0.6\n",
                           "line 3: threshold 0.6 differs from 0.3 on line 2"),
        "threshold above one": (f"path,probability,threshold\n{path},0.2,2\n",
                                "line 2: threshold '2' is outside"),
        "bad sha256": ("sha256,probability\nabc,0.2\n", "line 2: sha256 'abc' is not 64 hex"),
        "empty": ("", "empty file"),
        "path and sha256 disagree": (
            f"path,sha256,probability\n{path},{digest},0.2\n{other},{digest},0.3\n",
            f"line 3: path {other} and sha256 {digest} name different images"),
        "duplicate probability column": (f"path,probability,Probability\n{path},0.2,0.9\n",
                                         "duplicate probability column"),
        "underscore digits": (f"path,probability\n{path},0.5_0\n",
                              "line 2: probability '0.5_0' is not a plain number"),
        "arabic-indic digits": (f"path,probability\n{path},\u0660.\u0665\n",
                                "line 2: probability '\u0660.\u0665' is not a plain number"),
        "header only": ("path,probability\n", "no predictions after the header"),
        "nothing known": ("path,probability\nNORMAL/missing.jpeg,0.2\n",
                          "none of its 1 rows names a val, test or external image (1 unknown"),
    }


BAD_CASES = ("no probability column", "no image column", "above one", "not a number", "nan",
             "empty probability", "duplicate path", "duplicate by content", "two thresholds",
             "threshold above one", "bad sha256", "empty", "header only", "nothing known",
             "path and sha256 disagree", "duplicate probability column", "underscore digits",
             "arabic-indic digits")


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_files_are_one_line_errors_naming_the_row(imported_home: dict, tmp_path: Path,
                                                      case: str) -> None:
    text, expected = _bad_files(imported_home)[case]
    predictions = tmp_path / "bad.csv"
    predictions.write_text(text)
    before = runs.count_runs()
    code, out, err = _cli("import-predictions", str(predictions), "--name", "bad",
                          "--split-of", str(imported_home["ours"]))
    assert code == 2, out + err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert expected in err, err
    assert runs.count_runs() == before  # nothing written


def test_external_run_refuses_what_needs_the_model(imported_home: dict) -> None:
    from engine.evaluation.adaptation import adapt_run
    from engine.evaluation.ensembles import create_ensemble
    from engine.evaluation.evaluate import evaluate_run
    from engine.explain.road import road_scores
    from engine.inference.scoring import get_scorer

    external, ours = imported_home["external"], imported_home["ours"]
    attempts = [lambda: evaluate_run(external, "test"), lambda: get_scorer(external),
                lambda: adapt_run(external, str(imported_home["data"])),
                lambda: create_ensemble([ours, external]), lambda: road_scores(external)]
    for attempt in attempts:
        with pytest.raises(UserError, match=EXTERNAL_REFUSAL):
            attempt()
    code, _, err = _cli("score", "--run", str(external), str(imported_home["scored"][0].path))
    assert code == 2 and "cannot score" in err and err.count("\n") == 1
    assert external not in {run.id for run in runs.completed_runs()}  # no Score page entry


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                                 st.floats(min_value=0, max_value=1)), min_size=1, max_size=8),
       header=st.permutations(["PATH", "probability", "note"]))
def test_any_probability_outside_the_unit_interval_names_its_line(
        values: list[float], header: list[str], tmp_path_factory: pytest.TempPathFactory
        ) -> None:
    position = {name.lower(): header.index(name) for name in header}
    rows = []
    for index, value in enumerate(values):
        cells = [""] * 3
        cells[position["path"]], cells[position["probability"]] = f"N/{index}.png", repr(value)
        cells[position["note"]] = "x"
        rows.append(",".join(cells))
    predictions = tmp_path_factory.mktemp("property") / "p.csv"
    predictions.write_text(",".join(header) + "\n" + "\n".join(rows) + "\n")
    bad = [i for i, v in enumerate(values) if not (math.isfinite(v) and 0 <= v <= 1)]
    if bad:
        with pytest.raises(UserError, match=f"p.csv: line {bad[0] + 2}: probability"):
            read_predictions(predictions)
    else:
        parsed = read_predictions(predictions)
        assert [line.probability for line in parsed.lines] == values
        assert [line.path for line in parsed.lines] == [f"N/{i}.png" for i in range(len(values))]


def test_another_dataset_is_one_external_evaluation(imported_home: dict, tmp_path: Path) -> None:
    from tests.conftest import copy_subset

    site = copy_subset(tmp_path / "site", per_class=3, seed=7)
    files = sorted(site.rglob("*.jpeg"))
    predictions = tmp_path / "site.csv"
    predictions.write_text("path,probability\n" + "".join(
        f"{path.relative_to(site).as_posix()},{0.9 if path.parent.name == 'PNEUMONIA' else 0.1}\n"
        for path in files))
    code, out, err = _cli("import-predictions", str(predictions), "--name", "site-model",
                          "--data", str(site), "--split-of", str(imported_home["ours"]))
    assert code == 0, err
    run = runs.run_summaries()[0]
    assert run.name == "site-model" and run.split_id == imported_home["split_id"]
    assert evaluations.evaluation_splits(run.id) == ["external"]
    stored = evaluations.evaluation_metrics(evaluations.evaluation_id_for(run.id, "external"))
    assert stored.roc_auc.iloc[0] == 1.0 and stored.accuracy.iloc[0] == 1.0
    assert f"external {len(files)} images" in out and "threshold 0.500 (fixed:0.5)" in out
