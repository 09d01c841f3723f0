"""Agreement between runs counts only the scores that give a verdict: an image every run finds
unlike its training images has no agreement to report (CLI, Score page, history)."""

from __future__ import annotations

from datetime import datetime

from db.uploads import ScoredUpload, StoredScore, StoredUpload, disagreement


def _score(run_id: int, label: int, outside: bool) -> StoredScore:
    return StoredScore(id=run_id, upload_id=1, run_id=run_id, run_name=f"r{run_id}",
                       probability=0.9 if label else 0.1, predicted_label=label, threshold=0.5,
                       cam_path=None, inference_ms=1.0, created_at=datetime(2026, 1, 1),
                       typicality=2.0 if outside else 0.5, outside_population=outside)


def test_agreement_counts_only_assessable_scores() -> None:
    from dashboard.score_views import agreement_badge

    assert disagreement([_score(1, 0, False), _score(2, 1, False)])
    # Not assessable by either run: no verdicts, so no disagreement (and no "agree" either).
    assert not disagreement([_score(1, 0, True), _score(2, 1, True)])
    # One verdict against one non-verdict: nothing to disagree with.
    assert not disagreement([_score(1, 0, False), _score(2, 1, True)])
    upload = StoredUpload.__new__(StoredUpload)
    none = ScoredUpload(upload, (_score(1, 0, True), _score(2, 1, True)))
    assert not none.assessable and not none.disagreement
    assert ScoredUpload(upload, (_score(1, 0, False), _score(2, 1, True))).assessable
    badge = agreement_badge(none.disagreement, none.assessable)
    assert "agree" not in badge.children.replace("agreement", "")
    assert "not assessable" in badge.children
