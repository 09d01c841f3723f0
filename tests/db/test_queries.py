"""The dashboard's read side and review write, on a store filled by the real engine."""

from __future__ import annotations

import numpy as np
import pytest

from db import datasets, evaluations, gallery, images, run_table, runs
from db import reviews as reviews_db
from db import splits as splits_db
from db.audit import Actor
from db.reviews import ReviewError, add_review
from engine.evaluation.metrics import binary_metrics


@pytest.fixture
def run_and_eval(trained_home: dict) -> tuple[int, int]:
    run_id = trained_home["run_ids"][0]
    return run_id, evaluations.evaluation_id_for(run_id, "test")


def test_runs_table_and_summaries(trained_home: dict) -> None:
    table = run_table.runs_table()
    assert sorted(table.run_id) == sorted(trained_home["run_ids"])
    assert table.test_roc_auc.notna().all() and table.val_accuracy.notna().all()
    summaries = runs.run_summaries()
    assert {s.id for s in summaries} == set(trained_home["run_ids"])
    assert all(not s.synthetic for s in summaries)  # real images
    assert runs.count_runs() == 2
    assert evaluations.evaluation_splits(summaries[0].id) == ["val", "test"]


def test_evaluation_arrays_are_cached_and_read_only(run_and_eval: tuple[int, int]) -> None:
    _, evaluation_id = run_and_eval
    scored = evaluations.evaluation_arrays(evaluation_id)
    probability, labels = scored.probability, scored.true_label
    again = evaluations.evaluation_arrays(evaluation_id)
    assert again.probability is probability
    assert len(probability) == len(labels) > 0 and set(np.unique(labels)) <= {0, 1}
    with pytest.raises(ValueError):
        probability[0] = 1.0


@pytest.mark.parametrize("threshold", [0.2, 0.5, 0.8])
def test_cells_partition_the_split_and_match_the_metrics(run_and_eval: tuple[int, int],
                                                         threshold: float) -> None:
    _, evaluation_id = run_and_eval
    scored = evaluations.evaluation_arrays(evaluation_id)
    probability, labels = scored.probability, scored.true_label
    metrics = binary_metrics(labels, probability, threshold)
    seen = []
    for cell in gallery.CELLS:
        page = gallery.cell_images(evaluation_id, cell, threshold, limit=10_000)
        total, items = page.total, page.items
        assert total == getattr(metrics, cell) == len(items)
        true_label, positive = gallery.CELL_DEFINITION[cell]
        assert all(item.true_label == true_label for item in items)
        assert all((item.probability >= threshold) == positive for item in items)
        seen += [item.image_id for item in items]
    assert len(seen) == len(set(seen)) == len(labels)


def test_a_prediction_reads_as_one_view_everywhere(run_and_eval: tuple[int, int]) -> None:
    """The gallery, the image panel and the lung-outline overlay read the same PredictionView,
    every field read (nothing left at a default)."""
    _, evaluation_id = run_and_eval
    item = gallery.cell_images(evaluation_id, "tp", 0.0, limit=1).items[0]
    assert type(item) is gallery.PredictionView and item.evaluation_id == evaluation_id
    assert gallery.prediction(item.prediction_id) == item
    assert gallery.prediction_for(evaluation_id, item.image_id) == item
    assert item in gallery.evaluation_predictions(evaluation_id)
    assert item.predicted_label in (0, 1) and item.has_cam == (item.cam_path is not None)
    assert gallery.prediction(999_999_999) is None


def test_cell_sorting_and_paging(run_and_eval: tuple[int, int]) -> None:
    _, evaluation_id = run_and_eval
    page = gallery.cell_images(evaluation_id, "tp", 0.0, "probability_desc", limit=10_000)
    total, everything = page.total, page.items
    probabilities = [item.probability for item in everything]
    assert probabilities == sorted(probabilities, reverse=True)
    confident = gallery.cell_images(evaluation_id, "tp", 0.0, "confident_first", limit=5).items
    assert [i.image_id for i in confident] == [i.image_id for i in everything[:5]]
    borderline = gallery.cell_images(evaluation_id, "tp", 0.0, "borderline_first", limit=5).items
    assert borderline[0].probability == min(probabilities)
    pages = [gallery.cell_images(evaluation_id, "tp", 0.0, "probability_desc", limit=7,
                                 offset=offset).items for offset in range(0, total, 7)]
    assert [i.image_id for page in pages for i in page] == [i.image_id for i in everything]
    with pytest.raises(ValueError, match="unknown confusion cell"):
        gallery.cell_images(evaluation_id, "xx", 0.5)


def test_image_views(trained_home: dict, run_and_eval: tuple[int, int]) -> None:
    _, evaluation_id = run_and_eval
    items = gallery.cell_images(evaluation_id, "tn", 1.01, limit=1).items
    image_id = items[0].image_id
    info = images.image_info(image_id)
    assert info.label == 0 and info.patient_id and info.rel_path.startswith("NORMAL/")
    predictions = images.image_predictions(image_id)
    assert set(predictions.run_id) == set(trained_home["run_ids"])  # both runs, same split
    assert gallery.prediction_for(evaluation_id, image_id).image_id == image_id
    assert images.image_info(10**9) is None


def test_reviews_round_trip(trained_home: dict, run_and_eval: tuple[int, int]) -> None:
    run_id, evaluation_id = run_and_eval
    items = gallery.cell_images(evaluation_id, "tp", 0.0, limit=1).items
    image_id = items[0].image_id
    first = add_review(image_id, "ambiguous", Actor("  ana "), "faint opacity", run_id)
    second = add_review(image_id, "label error", Actor("ben"))
    reviews = reviews_db.reviews_for(image_id)
    assert [r.id for r in reviews[:2]] == [second, first]  # newest first
    assert reviews[1].reviewer == "ana" and reviews[1].note == "faint opacity"
    assert reviews[1].run_id == run_id and reviews[1].created_at is not None
    with pytest.raises(ReviewError, match="verdict"):
        add_review(image_id, "maybe", Actor("ana"))
    with pytest.raises(ReviewError, match="reviewer"):
        add_review(image_id, "correct", Actor("   "))
    with pytest.raises(ReviewError, match="does not exist"):
        add_review(10**9, "correct", Actor("ana"))


def test_dataset_views(trained_home: dict) -> None:
    # The shared store's training set (other tests add uploads and external data sets to it).
    trained_on = runs.get_run(trained_home["run_ids"][0]).dataset_id
    (dataset,) = [found for found in datasets.datasets() if found.id == trained_on]
    assert dataset.n_ok == 120 and not dataset.synthetic
    splits = splits_db.splits_of(dataset.id)
    split_id = int(splits.split_id.iloc[0])
    balance = splits_db.split_balance(split_id)
    assert balance.images.sum() == 120
    assert set(balance.subset) == {"train", "val", "test"}
    assert splits_db.leaked_patients(split_id) == []
    patients = splits_db.split_patient_counts(split_id)
    assert (patients.patients > 0).all()
    assert datasets.skipped_files(dataset.id).empty


def test_paired_predictions_and_epochs(trained_home: dict) -> None:
    run_a, run_b = trained_home["run_ids"]
    pairs = evaluations.paired_predictions(evaluations.evaluation_id_for(run_a, "test"),
                                       evaluations.evaluation_id_for(run_b, "test"))
    assert len(pairs) == len(evaluations.evaluation_arrays(
        evaluations.evaluation_id_for(run_a, "test")).probability)
    assert {"probability_a", "probability_b", "prediction_id_a"} <= set(pairs.columns)
    epochs = runs.epochs_for([run_a, run_b])
    assert set(epochs.run_id) == {run_a, run_b} and (epochs.epoch >= 1).all()


def test_runs_table_cache_follows_every_change(cxr_home) -> None:
    """The Runs page caches its rows under runs_signature(): each step of a run's life must
    change the signature, so the table never shows a stale status."""
    from dashboard.runs_table import cached_table_rows
    from db import run_table, runs
    from db.models import Dataset, Split
    from db.session import session_scope

    with session_scope(write=True) as session:
        dataset = Dataset(name="d", root=str(cxr_home), synthetic=True, has_official_test=False)
        session.add(dataset)
        session.flush()
        split = Split(dataset_id=dataset.id, seed=0, val_fraction=0.2, test_fraction=0.1)
        session.add(split)
        session.flush()
        dataset_id, split_id = dataset.id, split.id
    previous = run_table.runs_signature()
    assert cached_table_rows("test") == []
    run_id = runs.create_run("r", "small_cnn", {"epochs": 1}, 0, "cpu", dataset_id, split_id,
                             code_version="test")
    steps = [lambda: None, lambda: runs.mark_running(run_id),
             lambda: runs.record_epoch(run_id, epoch=1, train_loss=0.5, val_loss=0.5,
                                          val_accuracy=0.5, val_auc=0.5, learning_rate=1e-3,
                                          seconds=1.0, images_per_second=1.0),
             lambda: runs.finish_run(run_id, "failed", "boom"),
             lambda: runs.mark_running(run_id),
             lambda: runs.finish_run(run_id, "completed")]
    for step, status in zip(steps, ["queued", "running", "running", "failed", "running",
                                    "completed"], strict=True):
        step()
        signature = run_table.runs_signature()
        assert signature != previous
        previous = signature
        rows = cached_table_rows("test")
        assert [(row["id"], row["status"]) for row in rows] == [(run_id, status)]
