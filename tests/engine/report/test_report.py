"""`cxr report`: one HTML file that opens offline from disk, says it holds patient images, names
no file, and holds what a lead presents; its intervals and tables agree with the metrics."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from engine.cli.main import main as cxr
from tests.engine.report.offline_browser import open_offline
from tests.engine.report.store import report_env, report_store  # noqa: F401 - fixtures


@pytest.fixture(scope="module")
def written(report_store: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:  # noqa: F811
    """`cxr report A B -o FILE` run once on the store; its output and the page it wrote."""
    from tests.conftest import point_at

    with pytest.MonkeyPatch.context() as monkeypatch:
        point_at(monkeypatch, report_store["home"], report_store["url"])
        output = tmp_path_factory.mktemp("report") / "report.html"
        first, second = report_store["run_ids"]
        code = cxr(["report", str(first), str(second), "-o", str(output)])
        from db.audit import recent

        events = recent(5, action="downloaded report")
    return {"code": code, "path": output, "html": output.read_text(), "events": events}


def test_the_report_opens_offline_with_every_figure_drawn(written: dict, report_store: dict,  # noqa: F811
                                                          tmp_path: Path) -> None:
    assert written["code"] == 0
    view = open_offline(written["path"])
    shift_figure = f"report-shift-{report_store['run_ids'][0]}"
    assert set(view.drawn) == {"report-roc", "report-reliability", shift_figure}
    assert all(view.drawn.values()) and view.hovered == [True] * 3, (view.drawn, view.hovered)
    left_the_page = [url for url in view.requests if not url.startswith(("file:", "data:"))]
    assert left_the_page == [] and written["path"].resolve().as_uri() in view.requests
    assert view.severe == []
    assert view.notice.startswith("PATIENT DATA: this report embeds chest X-ray images")
    assert view.image_count > 0 and set(view.image_sources) == {"data"}


def test_the_report_names_no_file_and_says_it_holds_patient_images(written: dict,
                                                                   report_store: dict) -> None:  # noqa: F811
    page = written["html"]
    assert page.splitlines()[0].startswith("<!-- PATIENT DATA:")
    names = [path.name for folder in (report_store["data"], report_store["site"])
             for path in folder.rglob("*") if path.is_file()]
    assert names and [name for name in names if name in page] == []
    assert str(report_store["data"]) not in page and str(report_store["site"]) not in page
    assert "&lt;data set " in page  # the config's data path, replaced by the data set's name
    # Nothing to fetch: no src or href points anywhere but at an inline data: URI or a fragment.
    sources = re.findall(r'\b(?:src|href)="([^"]*)"', page.split("</script>", 1)[1])
    assert sources and all(source.startswith(("data:", "#")) for source in sources)


def test_the_report_holds_what_a_lead_presents(written: dict, report_store: dict) -> None:  # noqa: F811
    page = written["html"]
    first, second = report_store["run_ids"]
    for heading in ("Provenance", "Metrics at the stored threshold", "Confusion matrix",
                    "Threshold table", "Shift: external data beside val", "Worst errors",
                    "Review verdicts", "Comparison", "Flip matrix", "Code version", "Device",
                    "Duration", "Split (patient level)", "95% CI"):
        assert heading in page, heading
    assert f'id="run-{first}"' in page and f'id="run-{second}"' in page
    tiles = re.findall(r"<b>(False negative|False positive)</b>", page)
    assert tiles and tiles == sorted(tiles, key=lambda cell: cell != "False negative")
    assert [(event.target, event.detail) for event in written["events"]][:1] == [
        (f"runs {first}, {second}", "test split, via cli")]
    assert written["events"][0].actor.startswith("cli:")


def test_intervals_and_threshold_table_agree_with_the_metrics(report_env: dict) -> None:  # noqa: F811
    from db import evaluations
    from db.runs import get_run
    from engine.evaluation.metrics import binary_metrics
    from engine.report.content import run_section

    run_id = report_env["run_ids"][0]
    section = run_section(run_id, "test", per_cell=2)
    run = get_run(run_id)
    scored = evaluations.evaluation_arrays(section.evaluation.evaluation_id)
    expected = binary_metrics(scored.true_label, scored.probability, run.threshold)
    assert section.metrics == expected
    for interval in section.intervals:
        value = expected.roc_auc if interval.metric == "roc_auc" else getattr(expected,
                                                                             interval.metric)
        assert interval.value == pytest.approx(value)
        assert interval.low <= value + 1e-9 and value - 1e-9 <= interval.high
    stored = [row for row in section.threshold_table if row.threshold == run.threshold]
    assert stored == [expected]
    assert len(section.worst) <= 4 and [e.cell for e in section.worst] == sorted(
        (e.cell for e in section.worst), key=lambda cell: cell != "fn")
    fn = [e.probability for e in section.worst if e.cell == "fn"]
    assert fn == sorted(fn)  # most confident (lowest P) first


def test_text_from_the_database_is_escaped(report_env: dict) -> None:  # noqa: F811
    from dataclasses import replace

    from engine.report.content import ReportContent, run_section
    from engine.report.render import render

    section = run_section(report_env["run_ids"][0], "test", per_cell=0)
    hostile = "<script>alert(1)</script>"
    provenance = replace(section.provenance, name=hostile, code_version=hostile,
                         config={"note": '<img src=x onerror="alert(2)">'})
    page = render(ReportContent("test", [replace(section, provenance=provenance)], []), hostile)
    body = page.split("</head>", 1)[1]
    assert hostile not in body and "<img src=x" not in body  # in the figures' JSON too
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body and "&lt;img src=x" in body


def test_review_verdicts_are_counted_over_the_evaluations_images(report_env: dict) -> None:  # noqa: F811
    from db import evaluations, gallery, reports
    from db.audit import Actor
    from db.models import Review
    from db.reviews import add_review
    from db.session import session_scope

    evaluation_id = evaluations.evaluation_id_for(report_env["run_ids"][0], "test")
    before = {item.verdict: item for item in reports.verdict_counts(evaluation_id)}
    image_id = gallery.evaluation_predictions(evaluation_id)[0].image_id
    review_ids = [add_review(image_id, "ambiguous", Actor("report-reviewer"))
                  for _ in range(2)]
    try:
        after = {item.verdict: item for item in reports.verdict_counts(evaluation_id)}
    finally:
        with session_scope(write=True) as session:
            for review_id in review_ids:
                session.delete(session.get(Review, review_id))
    assert after["ambiguous"].reviews == before["ambiguous"].reviews + 2
    assert before["ambiguous"].images <= after["ambiguous"].images <= before["ambiguous"].images + 1
    assert {verdict: item for verdict, item in after.items() if verdict != "ambiguous"} == {
        verdict: item for verdict, item in before.items() if verdict != "ambiguous"}
    assert list(after)[:4] == ["label error", "model error", "ambiguous", "correct"]


def test_bad_input_is_one_line_and_exit_2(report_env: dict, tmp_path: Path,  # noqa: F811
                                          capsys: pytest.CaptureFixture) -> None:
    run_id = report_env["run_ids"][0]
    cases = [(["report", "999", "-o", str(tmp_path / "a.html")], "run 999 does not exist"),
             (["report", str(run_id), "-o", str(tmp_path / "no" / "a.html")],
              f"folder {tmp_path / 'no'} does not exist"),
             (["report", str(run_id), "-o", str(tmp_path)], "is a folder")]
    for args, message in cases:
        assert cxr(args) == 2
        error = capsys.readouterr().err
        assert message in error and len(error.strip().splitlines()) == 1, error
    with pytest.raises(SystemExit) as exited:
        cxr(["report", str(run_id), "-o", str(tmp_path / "a.html"), "--errors", "-1"])
    assert exited.value.code == 2 and "out of range" in capsys.readouterr().err
    assert not (tmp_path / "a.html").exists()


def test_metric_intervals_cover_the_point_estimate() -> None:
    from engine.evaluation.stats import metric_intervals

    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 200)
    probability = np.clip(labels * 0.3 + rng.random(200) * 0.7, 0, 1)
    intervals = {item.metric: item for item in metric_intervals(labels, probability, 0.5)}
    assert set(intervals) == {"accuracy", "sensitivity", "specificity", "f1", "roc_auc"}
    for item in intervals.values():
        assert item.low < item.value < item.high and item.high - item.low < 0.3
    one_class = metric_intervals(np.ones(5, int), np.full(5, 0.9), 0.5)
    assert np.isnan({item.metric: item for item in one_class}["roc_auc"].low)
