"""The in-memory stores' pagination keeps the stores' contract."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from guild_common.errors import InvalidArgument
from guild_testing.memory import keyset_page

ROWS = [("b", 2), ("a", 1), ("d", 4), ("c", 3), ("e", 5)]


def _walk(descending: bool) -> list[list[str]]:
    pages: list[list[str]] = []
    token = ""
    while True:
        page = keyset_page(ROWS, lambda r: (r[1],), token, 2, descending=descending)
        pages.append([name for name, _ in page.items])
        token = page.next_token
        if not token:
            return pages


def test_pages_follow_the_key_without_gaps_or_repeats() -> None:
    assert _walk(descending=False) == [["a", "b"], ["c", "d"], ["e"]]
    assert _walk(descending=True) == [["e", "d"], ["c", "b"], ["a"]]


def test_a_token_made_up_by_the_caller_is_refused_on_its_field() -> None:
    with pytest.raises(InvalidArgument) as refused:
        keyset_page(ROWS, lambda r: (r[1],), "not-a-token", 2, field="cursor")
    assert [v.field for v in refused.value.violations] == ["cursor"]


def test_an_exact_page_has_no_next_token() -> None:
    assert keyset_page(ROWS, lambda r: (r[1],), "", 5).next_token == ""


def test_a_key_may_hold_times() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [(start + timedelta(seconds=n % 3), f"id{n}") for n in range(7)]
    seen: list[str] = []
    token = ""
    while True:
        page = keyset_page(rows, lambda r: (r[0], r[1]), token, 3, descending=True)
        seen += [row_id for _, row_id in page.items]
        token = page.next_token
        if not token:
            break
    assert seen == [row_id for _, row_id in sorted(rows, reverse=True)]
