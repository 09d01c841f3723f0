"""The Map page's selection reaches the gallery as `?ids=`: whatever the URL holds, the gallery
gets at most MAX_CHOSEN distinct positive integers a database id can be, and nothing else."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dashboard.url_state import MAX_CHOSEN, chosen_ids

PIECES = st.one_of(st.integers(-10, 2**40).map(str), st.text(max_size=6),
                   st.sampled_from(["", " 7", "1e3", "0x10", "3.0", "-0", "٣", "²", "+5", "∞"]))


@given(st.lists(PIECES, max_size=1200), st.sampled_from([",", ", ", ",,", ";"]))
def test_any_query_gives_bounded_positive_ids(pieces: list[str], separator: str) -> None:
    chosen = chosen_ids(separator.join(pieces))
    assert len(chosen) <= MAX_CHOSEN and len(set(chosen)) == len(chosen)
    assert all(isinstance(item, int) and 0 < item < 2**31 for item in chosen)


@given(st.lists(st.integers(1, 2**31 - 1), max_size=MAX_CHOSEN, unique=True))
def test_plain_ids_come_through_in_order(image_ids: list[int]) -> None:
    assert chosen_ids(",".join(map(str, image_ids))) == tuple(image_ids)


def test_not_a_list_is_nothing() -> None:
    for value in (None, 42, ["1", "2"], {"a": 1}, "DROP TABLE images"):
        assert chosen_ids(value) in ((), (42,))
