"""Pure rules: who hears what, preferences, URL rules, signatures, tokens and backoff."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from guild.notify.v1 import notification_pb2 as pb
from guild_common.errors import InvalidArgument
from guild_common.events.inbound import event_types
from guild_notify.app.email_delivery import retry_delay
from guild_notify.app.notifications_handlers import RULES
from guild_notify.app.unsubscribe import UnsubscribeTokens
from guild_notify.app.webhooks import WEBHOOK_EVENT_TYPES, source_service
from guild_notify.domain.notifications import (
    TYPES,
    NotificationType,
    group_summary,
    role_granted,
    vote_milestone,
)
from guild_notify.domain.preferences import Channel, Channels, Preferences
from guild_notify.domain.webhooks import allow_list, signature, url_violations, verify_signature
from guild_notify.entrypoints.event_decoders import DECODERS

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_every_type_has_wording_defaults_and_a_wire_value() -> None:
    assert set(TYPES) == set(NotificationType)
    for t in NotificationType:
        assert pb.NotificationType.Value(f"NOTIFICATION_TYPE_{t.name}") > 0
    assert len(event_types(DECODERS, RULES)) == len(RULES)
    assert set(event_types(DECODERS, RULES)) <= WEBHOOK_EVENT_TYPES
    assert {source_service(t) for t in WEBHOOK_EVENT_TYPES} == {"community", "content", "reputation"}


def _milestone(previous: int, score: int, author: str = "bob") -> str | None:
    n = vote_milestone(
        event_id="e",
        target_kind="answer",
        target_id="a1",
        community_id="c1",
        author_id=author,
        voter_id="v",
        previous_score=previous,
        score=score,
        time=NOW,
    )
    return n.id if n else None


def test_vote_milestones_are_keyed_by_post_and_milestone() -> None:
    assert _milestone(9, 10) == "a1#score10:bob:vote_milestone"
    assert _milestone(10, 11) is None
    assert _milestone(10, 9) is None
    assert _milestone(20, 30) == "a1#score25:bob:vote_milestone"
    assert _milestone(9, 10, author="") is None


def test_only_notable_roles_are_announced() -> None:
    def text(role: str) -> str | None:
        n = role_granted(
            event_id="e", community_id="c1", member_id="bob", role=role, granted_by="o", time=NOW
        )
        return n.text if n else None

    assert text("member") is None
    assert text("curator") == "You were made a curator of the community"
    assert text("owner") == "You were made an owner of the community"


def test_group_summaries() -> None:
    assert group_summary(NotificationType.NEW_ANSWER, 1, "T", "bob answered") == "bob answered"
    assert group_summary(NotificationType.NEW_ANSWER, 3, "T", "x") == "3 new answers on \u201cT\u201d"
    assert group_summary(NotificationType.VOTE_MILESTONE, 2, "", "x") == "2 score milestones"


def test_preferences_decide_channels() -> None:
    prefs = Preferences(member_id="ann")
    assert prefs.wants(NotificationType.NEW_ANSWER, "c1", Channel.IN_APP)
    assert not prefs.wants(NotificationType.ANSWER_ACCEPTED, "c1", Channel.EMAIL)  # no address yet
    prefs = Preferences(member_id="ann", email_address="a@example.com", muted_community_ids=frozenset({"m"}))
    assert prefs.wants(NotificationType.ANSWER_ACCEPTED, "c1", Channel.EMAIL)
    assert not prefs.wants(NotificationType.NEW_ANSWER, "c1", Channel.EMAIL)
    assert not prefs.wants(NotificationType.ANSWER_ACCEPTED, "m", Channel.IN_APP)
    quiet = prefs.with_channels({NotificationType.NEW_ANSWER: Channels(in_app=False, email=False)})
    assert not quiet.wants(NotificationType.NEW_ANSWER, "c1", Channel.IN_APP)
    assert not quiet.without_email_for(NotificationType.ANSWER_ACCEPTED).wants(
        NotificationType.ANSWER_ACCEPTED, "c1", Channel.EMAIL
    )


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://hooks.example.com/x?y=1", True),
        ("https://HOOKS.example.com:443/x", True),
        ("https://hooks.example.com:8443/x", False),
        ("https://ports.example.com:8443/x", True),
        ("https://ports.example.com/x", False),
        ("https://origin.example.com:9443/x", True),
        ("https://origin.example.com/x", False),
        ("https://[::1]:8443/x", True),
        ("http://hooks.example.com/x", False),
        ("https://hooks.example.com.evil.net/x", False),
        ("https://evil.net/?hooks.example.com", False),
        ("https://a@hooks.example.com/x", False),
        ("https://hooks.example.com:99999/x", False),
        ("https:///x", False),
        ("", False),
    ],
)
def test_webhook_urls_match_host_and_port(url: str, ok: bool) -> None:
    allowed = allow_list(
        ["hooks.example.com", " ports.example.com:8443", "https://origin.example.com:9443", "[::1]:8443", ""]
    )
    assert (not url_violations(url, allowed, allow_http=False)) is ok


def test_an_origin_entry_names_its_scheme_and_default_port() -> None:
    allowed = allow_list(["http://plain.example.com", "hooks.example.com"])
    assert not url_violations("http://plain.example.com/x", allowed, allow_http=True)
    assert not url_violations("http://plain.example.com:80/x", allowed, allow_http=True)
    assert url_violations("https://plain.example.com/x", allowed, allow_http=True)
    assert not url_violations("http://hooks.example.com/x", allowed, allow_http=True)
    assert url_violations("http://hooks.example.com:443/x", allowed, allow_http=True)
    for bad in ("hooks.example.com/path", "ftp://hooks.example.com", "hooks.example.com:99999", ":443"):
        with pytest.raises(ValueError, match=r"host|scheme|port"):
            allow_list([bad])


def test_signatures_and_unsubscribe_tokens() -> None:
    header = signature("s3cret", 1700000000, b'{"a":1}')
    assert header.startswith("v1=")
    assert verify_signature("s3cret", 1700000000, b'{"a":1}', header)
    assert not verify_signature("s3cret", 1700000001, b'{"a":1}', header)
    assert not verify_signature("s3cret", 1700000000, b'{"a":2}', header)

    tokens = UnsubscribeTokens("k")
    token = tokens.issue("ann", NotificationType.ROLE_GRANTED)
    assert tokens.verify(token) == ("ann", NotificationType.ROLE_GRANTED)
    for forged in [UnsubscribeTokens("other").issue("ann", NotificationType.ROLE_GRANTED), "x", "a.b", ""]:
        with pytest.raises(InvalidArgument):
            tokens.verify(forged)


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [retry_delay(n, 1.0, 10.0) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
