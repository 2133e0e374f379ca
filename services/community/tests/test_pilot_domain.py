"""A pilot's control as a request names it, and its people page by page."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from guild_common.errors import InvalidArgument, Validator
from guild_community.app.pilot import member_page
from guild_community.domain.pilot import MAX_CONTROL_MEMBERS, PilotControl

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _named(control_community_id: str = "", ids: list[str] | None = None) -> tuple[PilotControl, Validator]:
    check = Validator()
    control = PilotControl.named(
        community_id="pilot",
        control_community_id=control_community_id,
        control_member_ids=ids or [],
        set_by="olivia",
        now=NOW,
        check=check,
    )
    return control, check


def test_people_are_sorted_without_duplicates_and_the_limits_hold() -> None:
    control, check = _named(ids=["bob", "ann", "bob"])
    check.check()
    assert control.control_member_ids == ("ann", "bob")
    assert control.is_set
    cleared, check = _named()
    check.check()
    assert not cleared.is_set
    for community, ids, field in (
        ("pilot", [], "control_community_id"),
        ("other", ["ann"], "control_member_ids"),
        ("", [f"p{i}" for i in range(MAX_CONTROL_MEMBERS + 1)], "control_member_ids"),
        ("", ["x" * 129], "control_member_ids"),
        ("", [" ann"], "control_member_ids"),
    ):
        _, check = _named(community, ids)
        with pytest.raises(InvalidArgument):
            check.check()
        assert [v.field for v in check.violations] == [field]


def test_pages_of_people_follow_the_token() -> None:
    ids = [f"p{i:03d}" for i in range(25)]
    first, token = member_page(ids, 10, "")
    second, token2 = member_page(ids, 10, token)
    third, token3 = member_page(ids, 10, token2)
    assert first + second + third == ids
    assert token3 == ""
    assert member_page(ids[:10], 10, "") == (ids[:10], "")
