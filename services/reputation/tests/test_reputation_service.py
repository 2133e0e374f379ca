"""Points from content events and leaderboards over gRPC, on real FerretDB and NATS."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import nats
import pytest
import pytest_asyncio
from google.protobuf.message import Message

from guild.events.v1 import content_events_pb2 as events
from guild.reputation.v1 import leaderboard_pb2 as pb
from guild.reputation.v1 import reputation_service_pb2 as api
from guild.reputation.v1 import reputation_service_pb2_grpc as api_grpc
from guild_common.events.envelope import Envelope, new_envelope
from guild_common.events.publisher import JetStreamPublisher
from guild_common.events.streams import ensure_stream, stream_config
from guild_common.settings import ServiceSettings
from guild_reputation.bootstrap import build
from guild_reputation.config import ReputationSettings
from guild_testing.fixtures import Infra, auth
from guild_testing.inprocess import running_service

COMMUNITY = "c-1"


class ContentProducer:
    """Publishes content events the way the content service's relay does."""

    def __init__(self, js: nats.js.JetStreamContext) -> None:
        self.publisher = JetStreamPublisher(js)
        self.js = js

    async def emit(self, name: str, payload: Message) -> Envelope:
        envelope = new_envelope(
            service="content", name=name, payload=payload, subject="s", region="emea", programme="sales"
        )
        await self.publisher.publish(envelope)
        return envelope

    async def redeliver(self, envelope: Envelope) -> None:
        """The same event again under a new message id: what a crash-and-retry upstream can produce."""
        await self.js.publish(
            envelope.topic, envelope.data, headers={**envelope.headers(), "Nats-Msg-Id": "x" + envelope.id}
        )


@pytest_asyncio.fixture
async def producer(infra: Infra, clean_streams: None) -> AsyncIterator[ContentProducer]:
    nc = await nats.connect(infra.nats_url)
    await ensure_stream(
        nc.jetstream(), stream_config("content", max_age_days=7, duplicate_window_seconds=300)
    )
    yield ContentProducer(nc.jetstream())
    await nc.close()


async def _standing(
    stub: api_grpc.ReputationServiceStub, member: str, *, expect: int | None = None
) -> pb.Standing:
    for _ in range(100):
        response = await stub.GetStanding(
            api.GetStandingRequest(community_id=COMMUNITY, member_id=member), metadata=auth("ann")
        )
        standing: pb.Standing = response.standing
        if expect is None or standing.points == expect:
            return standing
        await asyncio.sleep(0.05)
    raise AssertionError(f"{member} has {response.standing.points} points, expected {expect}")


def _accepted(answer_author: str = "bob", question_author: str = "ann") -> events.AnswerAccepted:
    return events.AnswerAccepted(
        answer_id="a1",
        question_id="q1",
        community_id=COMMUNITY,
        answer_author_id=answer_author,
        question_author_id=question_author,
        accepted_by=question_author,
    )


async def test_default_points_and_ranks(
    settings_for: Callable[..., ServiceSettings], producer: ContentProducer
) -> None:
    async with running_service(settings_for(ReputationSettings), build) as service:
        stub = api_grpc.ReputationServiceStub(service.channel)
        await producer.emit(
            "question_asked", events.QuestionAsked(question_id="q1", community_id=COMMUNITY, author_id="ann")
        )
        await producer.emit(
            "answer_posted",
            events.AnswerPosted(
                answer_id="a1",
                question_id="q1",
                community_id=COMMUNITY,
                author_id="bob",
                question_author_id="ann",
            ),
        )
        await producer.emit("answer_accepted", _accepted())
        assert await _standing(stub, "bob", expect=20) == pb.Standing(member_id="bob", points=20, rank=1)
        assert await _standing(stub, "ann", expect=2) == pb.Standing(member_id="ann", points=2, rank=2)
        top = await stub.GetLeaderboard(
            api.GetLeaderboardRequest(community_id=COMMUNITY), metadata=auth("cat")
        )
        assert [(s.member_id, s.points, s.rank) for s in top.standings] == [("bob", 20, 1), ("ann", 2, 2)]
        assert top.total_members == 2
        nobody = await _standing(stub, "zed")
        assert (nobody.points, nobody.rank) == (0, 0)


async def test_a_redelivered_event_counts_once(
    settings_for: Callable[..., ServiceSettings], producer: ContentProducer
) -> None:
    async with running_service(settings_for(ReputationSettings), build) as service:
        stub = api_grpc.ReputationServiceStub(service.channel)
        accepted = await producer.emit("answer_accepted", _accepted())
        await _standing(stub, "bob", expect=15)
        await producer.redeliver(accepted)
        await producer.redeliver(accepted)
        marker = await producer.emit(
            "question_asked", events.QuestionAsked(question_id="q9", community_id=COMMUNITY, author_id="bob")
        )
        assert marker.id
        # The marker comes after the redeliveries on the stream: once it counts, they have been handled.
        assert (await _standing(stub, "bob", expect=17)).points == 17
        ledger = service.app.infra.db.ledger
        assert await ledger.count_documents({"member_id": "bob"}) == 2


async def test_unaccepting_reverses_and_self_answers_earn_nothing(
    settings_for: Callable[..., ServiceSettings], producer: ContentProducer
) -> None:
    async with running_service(settings_for(ReputationSettings), build) as service:
        stub = api_grpc.ReputationServiceStub(service.channel)
        await producer.emit("answer_accepted", _accepted())
        await _standing(stub, "bob", expect=15)
        await producer.emit(
            "answer_unaccepted",
            events.AnswerUnaccepted(
                answer_id="a1",
                question_id="q1",
                community_id=COMMUNITY,
                answer_author_id="bob",
                unaccepted_by="ann",
            ),
        )
        await _standing(stub, "bob", expect=0)
        await producer.emit(
            "answer_posted",
            events.AnswerPosted(
                answer_id="a2",
                question_id="q2",
                community_id=COMMUNITY,
                author_id="cat",
                question_author_id="cat",
            ),
        )
        await producer.emit("answer_accepted", _accepted(answer_author="cat", question_author="cat"))
        await producer.emit(
            "question_asked", events.QuestionAsked(question_id="q3", community_id=COMMUNITY, author_id="cat")
        )
        assert (await _standing(stub, "cat", expect=2)).points == 2


async def test_boards_are_rebuilt_from_stored_totals_on_start(
    settings_for: Callable[..., ServiceSettings], producer: ContentProducer
) -> None:
    settings = settings_for(ReputationSettings)
    async with running_service(settings, build) as service:
        await producer.emit("answer_accepted", _accepted())
        await _standing(api_grpc.ReputationServiceStub(service.channel), "bob", expect=15)
    async with running_service(settings, build) as restarted:
        standing = await _standing(api_grpc.ReputationServiceStub(restarted.channel), "bob")
        assert (standing.points, standing.rank) == (15, 1)


async def test_invalid_requests(
    settings_for: Callable[..., ServiceSettings], producer: ContentProducer
) -> None:
    import grpc

    async with running_service(settings_for(ReputationSettings), build) as service:
        stub = api_grpc.ReputationServiceStub(service.channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetLeaderboard(
                api.GetLeaderboardRequest(community_id=COMMUNITY, top=1000), metadata=auth("a")
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetStanding(api.GetStandingRequest(community_id=""), metadata=auth("a"))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
