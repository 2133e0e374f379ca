"""A stream sends notifications in sequence order, waiting briefly for a number not yet visible."""

from __future__ import annotations

from dataclasses import replace

from guild_common.clock import utc_now
from guild_notify.app.gaps import GapWait
from guild_notify.domain.notifications import Notification, new_answer


def _numbered(*sequences: int) -> list[Notification]:
    note = new_answer(
        event_id="e",
        question_id="q",
        question_title="t",
        question_author="ann",
        answer_author="bob",
        community_id="c1",
        time=utc_now(),
    )
    assert note is not None
    return [replace(note, id=f"n{s}", sequence=s) for s in sequences]


def test_what_follows_without_a_gap_is_sent_at_once() -> None:
    gaps = GapWait(grace=5)
    assert [n.sequence for n in gaps.ready(3, _numbered(4, 5, 6), now=0)] == [4, 5, 6]
    assert not gaps.waiting()


def test_a_missing_number_holds_back_what_follows_until_it_appears() -> None:
    gaps = GapWait(grace=5)
    assert [n.sequence for n in gaps.ready(3, _numbered(4, 6, 7), now=0)] == [4]
    assert gaps.waiting()
    assert gaps.ready(4, _numbered(6, 7), now=4.9) == []
    assert [n.sequence for n in gaps.ready(4, _numbered(5, 6, 7), now=5.0)] == [5, 6, 7]
    assert not gaps.waiting()


def test_a_number_missing_past_the_grace_is_passed_over() -> None:
    gaps = GapWait(grace=5)
    assert gaps.ready(4, _numbered(6, 7), now=10) == []
    assert [n.sequence for n in gaps.ready(4, _numbered(6, 7, 9), now=15)] == [6, 7]
    # A new gap (8) waits its own grace, from when it was first seen.
    assert gaps.ready(7, _numbered(9), now=19) == []
    assert [n.sequence for n in gaps.ready(7, _numbered(9), now=20)] == [9]
