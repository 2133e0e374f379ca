"""Received envelopes decoded and handled as the consumers do, on in-memory ports: the decoders feed
the handlers, a redelivered envelope counts once, a malformed one is refused for good."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from google.protobuf.message import Message
from services.reputation.tests.app_world import C1, World
from services.reputation.tests.memory import T0

from guild.events.v1 import community_events_pb2 as community_events
from guild.events.v1 import content_events_pb2 as events
from guild_common.events.consumer import PermanentError
from guild_common.events.envelope import Envelope, new_envelope


def envelope(name: str, payload: Message, *, service: str = "content", minutes: int = 0) -> Envelope:
    made = new_envelope(
        service=service, name=name, payload=payload, subject="s", region="emea", programme="sales"
    )
    return dataclasses.replace(made, time=T0 + timedelta(minutes=minutes))


async def test_content_events_earn_once_however_often_delivered() -> None:
    world = World()
    asked = envelope(
        "question_asked",
        events.QuestionAsked(question_id="q1", community_id=C1, author_id="ann", tags=["Go"]),
    )
    posted = envelope(
        "answer_posted",
        events.AnswerPosted(
            answer_id="a1", question_id="q1", community_id=C1, author_id="bob", question_author_id="ann"
        ),
    )
    accepted = envelope(
        "answer_accepted",
        events.AnswerAccepted(
            answer_id="a1",
            question_id="q1",
            community_id=C1,
            answer_author_id="bob",
            question_author_id="ann",
        ),
    )
    for delivery in (asked, posted, accepted, accepted, posted, asked):
        await world.deliver(delivery)
    assert (world.ledger.points("bob", C1), world.ledger.points("ann", C1)) == (20, 2)
    assert {e.tags for e in world.ledger.entries.values()} == {("go",)}
    assert {e.source_event_id for e in world.ledger.entries.values()} == {asked.id, posted.id, accepted.id}
    points_changed = [e for e in world.ledger.events if e.type == "guild.reputation.points_changed.v1"]
    assert len(points_changed) == 3
    assert {e.region for e in points_changed} == {"emea"}


async def test_community_events_keep_roles_and_visibility() -> None:
    world = World()
    joined = envelope(
        "member_joined",
        community_events.MemberJoined(
            community_id=C1, member_id="olivia", role="owner", region="emea", programme="sales"
        ),
        service="community",
    )
    await world.deliver(joined)
    assert await world.roles.role(C1, "olivia") == "owner"
    assert await world.roles.routing(C1, "olivia") == ("emea", "sales")
    left = envelope(
        "member_left",
        community_events.MemberLeft(community_id=C1, member_id="olivia"),
        service="community",
        minutes=1,
    )
    await world.deliver(left)
    await world.deliver(joined)  # redelivered late: older than the leave
    assert await world.roles.role(C1, "olivia") is None


async def test_a_malformed_envelope_is_refused_for_good() -> None:
    world = World()
    broken = dataclasses.replace(
        envelope("question_asked", events.QuestionAsked(question_id="q1", community_id=C1, author_id="ann")),
        data=b"\xff\xff not protobuf",
    )
    with pytest.raises(PermanentError, match="malformed QuestionAsked"):
        await world.deliver(broken)
    anonymous = envelope("question_asked", events.QuestionAsked(question_id="q2", community_id=C1))
    with pytest.raises(PermanentError, match="QuestionAsked without author_id"):
        await world.deliver(anonymous)
    assert world.ledger.entries == {}
