"""The dashboard's one write: an analyst's review of an image, by the signed-in user."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from db.audit import Actor, add_event
from db.models import REVIEW_VERDICTS, Image, Review, Run
from db.session import session_scope

MAX_NOTE_CHARS = 5_000
MAX_REVIEWER_CHARS = 100


class ReviewError(ValueError):
    """A review that cannot be saved; the message says which field and what to do."""


def add_review(image_id: int, verdict: str, actor: Actor, note: str = "",
               run_id: int | None = None) -> int:
    """Save a review by `actor` (the signed-in user) and its audit record. Returns its id.

    The reviewer is who is signed in, never a typed name: `actor.user_id` is stored with it.
    """
    reviewer = (actor.name or "").strip()
    note = (note or "").strip()
    if verdict not in REVIEW_VERDICTS:
        raise ReviewError(f"choose a verdict: one of {', '.join(REVIEW_VERDICTS)}")
    if not reviewer:
        raise ReviewError("a review needs a signed-in reviewer; sign in first")
    if len(note) > MAX_NOTE_CHARS:
        raise ReviewError(f"the note is {len(note):,} characters; keep it under "
                          f"{MAX_NOTE_CHARS:,}")
    with session_scope(write=True) as session:
        if session.get(Image, image_id) is None:
            raise ReviewError(f"image {image_id} does not exist")
        if run_id is not None and session.get(Run, run_id) is None:
            run_id = None
        review = Review(image_id=image_id, run_id=run_id, verdict=verdict, note=note,
                        reviewer=reviewer[:MAX_REVIEWER_CHARS], user_id=actor.user_id)
        session.add(review)
        session.flush()
        add_event(session, actor, "reviewed", f"image {image_id}",
                  f"{verdict}" + (f" (run {run_id})" if run_id is not None else ""))
        return review.id


@dataclass(frozen=True)
class ReviewInfo:
    id: int
    image_id: int
    run_id: int | None
    verdict: str
    note: str
    reviewer: str
    created_at: datetime


def reviews_for(image_id: int) -> list[ReviewInfo]:
    query = (select(Review.id, Review.image_id, Review.run_id, Review.verdict, Review.note,
                    Review.reviewer, Review.created_at)
             .where(Review.image_id == image_id).order_by(Review.created_at.desc(),
                                                           Review.id.desc()))
    with session_scope() as session:
        return [ReviewInfo(*row) for row in session.execute(query).all()]
