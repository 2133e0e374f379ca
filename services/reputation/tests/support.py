"""Helpers of the reputation service tests."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import nats
from google.protobuf.message import Message

from guild.events.v1 import content_events_pb2 as events
from guild.reputation.v1 import leaderboard_pb2 as pb
from guild.reputation.v1 import reputation_service_pb2 as api
from guild.reputation.v1 import reputation_service_pb2_grpc as api_grpc
from guild_common.events.envelope import Envelope, new_envelope
from guild_common.events.publisher import JetStreamPublisher
from guild_testing.fixtures import auth

C1 = "c-1"
C2 = "c-2"


class Producer:
    """Publishes events the way the producing services' relays do."""

    def __init__(self, js: nats.js.JetStreamContext) -> None:
        self.publisher = JetStreamPublisher(js)
        self.js = js

    async def emit(
        self, name: str, payload: Message, *, service: str = "content", age: timedelta | None = None
    ) -> Envelope:
        envelope = new_envelope(
            service=service, name=name, payload=payload, subject="s", region="emea", programme="sales"
        )
        if age is not None:
            envelope = dataclasses.replace(envelope, time=envelope.time - age)
        await self.publisher.publish(envelope)
        return envelope

    async def redeliver(self, envelope: Envelope) -> None:
        await self.js.publish(
            envelope.topic, envelope.data, headers={**envelope.headers(), "Nats-Msg-Id": "x" + envelope.id}
        )


async def standing_of(
    stub: api_grpc.ReputationServiceStub,
    member: str,
    *,
    expect: int | None = None,
    community: str = C1,
    period: pb.Period.ValueType = pb.PERIOD_UNSPECIFIED,
    all_communities: bool = False,
) -> api.GetStandingResponse:
    """The member's standing, once it shows ``expect`` points when given (20 s at most)."""
    for _ in range(400):  # 20 s at most
        response: api.GetStandingResponse = await stub.GetStanding(
            api.GetStandingRequest(
                community_id=community, member_id=member, period=period, all_communities=all_communities
            ),
            metadata=auth("ann"),
        )
        if expect is None or response.standing.points == expect:
            return response
        await asyncio.sleep(0.05)
    raise AssertionError(f"{member} has {response.standing.points} points, expected {expect}")


def answer_vote(
    voter: str, previous: int, value: int, *, target: str = "a1", author: str = "bob"
) -> events.VoteChanged:
    """A vote on an answer to ``q1`` in ``C1``."""
    return events.VoteChanged(
        target_kind="answer",
        target_id=target,
        question_id="q1",
        community_id=C1,
        voter_id=voter,
        target_author_id=author,
        previous_value=previous,
        value=value,
    )


def question_asked(qid: str, author: str, community: str = C1) -> events.QuestionAsked:
    return events.QuestionAsked(question_id=qid, community_id=community, author_id=author)


async def badges_of(
    stub: api_grpc.ReputationServiceStub, member: str, expect: set[tuple[str, int]]
) -> set[tuple[str, int]]:
    """The member's (badge, tier) pairs, once they include ``expect`` (20 s at most)."""
    have: set[tuple[str, int]] = set()
    for _ in range(400):  # 20 s at most
        response = await stub.ListBadges(
            api.ListBadgesRequest(member_id=member, page_size=100), metadata=auth(member)
        )
        have = {(a.badge, a.tier) for a in response.awards}
        if have >= expect:
            return have
        await asyncio.sleep(0.05)
    raise AssertionError(f"{member} has {have}, expected at least {expect}")
