"""Pure rules of the content domain: no I/O."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from guild_common.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from guild_content.domain.community import MembershipView, Role
from guild_content.domain.moderation import Flag, check_moderation
from guild_content.domain.posts import PostRef, Text, edited_text, mentioned
from guild_content.domain.resources import RatingSummary

NOW = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
POST = PostRef("answer", "a1", "q1", "c1", "bob")


def test_mentions_name_members_once_but_not_the_author_emails_or_earlier_mentions() -> None:
    text = "Thanks @ann and @olivia. @ann again; mail bob@example.com or @@x, cc @bob"
    assert mentioned(text, author_id="bob") == ["ann", "olivia"]
    assert mentioned("@ann @carl", author_id="bob", before=("hi @ann",)) == ["carl"]
    assert len(mentioned(" ".join(f"@m{i}" for i in range(30)), author_id="bob")) == 10


def test_edits_change_only_the_masked_fields_and_validate_them() -> None:
    current = Text("Old title", "Old body", ["hr"])
    assert edited_text("question", current, ["tags"], Text("", "", ["Annual Leave", "hr"])) == Text(
        "Old title", "Old body", ["annual-leave", "hr"]
    )
    assert edited_text("question", current, [], Text(" New ", "New body", [])) == Text("New", "New body", [])
    with pytest.raises(InvalidArgument) as caught:
        edited_text("answer", current, ["title"], Text("x", "", []))
    assert [v.field for v in caught.value.violations] == ["update_mask"]
    with pytest.raises(InvalidArgument) as caught:
        edited_text("comment", current, [], Text("", "x" * 2001, []))
    assert [v.field for v in caught.value.violations] == ["body"]


def test_authors_and_moderators_change_posts() -> None:
    assert POST.ensure_may_change(MembershipView("c1", "bob", Role.MEMBER)) is False
    assert POST.ensure_may_change(MembershipView("c1", "olivia", Role.MODERATOR)) is True
    with pytest.raises(PermissionDenied) as caught:
        POST.ensure_may_change(MembershipView("c1", "ann", Role.CURATOR))
    assert caught.value.metadata == {"required_role": "moderator"}


def test_flags_need_a_known_reason_a_note_for_other_and_someone_elses_post() -> None:
    assert Flag.raise_(post=POST, member_id="ann", reason="spam", note=" ", now=NOW).note == ""
    with pytest.raises(InvalidArgument) as caught:
        Flag.raise_(post=POST, member_id="ann", reason="other", note="", now=NOW)
    assert [v.field for v in caught.value.violations] == ["note"]
    with pytest.raises(FailedPrecondition):
        Flag.raise_(post=POST, member_id="bob", reason="spam", note="", now=NOW)
    with pytest.raises(InvalidArgument):
        check_moderation("ban", "because")


def test_rating_summary_from_counts_per_star() -> None:
    summary = RatingSummary.of({5: 2, 4: 1, 1: 1})
    assert (summary.count, summary.distribution, summary.average) == (4, (1, 0, 0, 1, 2), 3.75)
    assert RatingSummary.of({}) == RatingSummary()
