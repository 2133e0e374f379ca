"""One learning loop through all four services as separate processes on real FerretDB and NATS.

An owner creates a community; two members join; one asks; the other answers; the asker accepts. The
answerer's points and rank change in reputation, the acceptance reaches their inbox, and the AcceptAnswer
RPC and the reputation and notify consumers share one trace.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

import grpc
import nats
import pytest
import pytest_asyncio
from tests.integration.harness import SuiteProcesses
from tests.integration.otlp import OtlpReceiver, ReceivedSpan

from guild.community.v1 import community_pb2
from guild.community.v1 import community_service_pb2 as community_api
from guild.community.v1 import community_service_pb2_grpc as community_grpc
from guild.content.v1 import content_service_pb2 as content_api
from guild.content.v1 import content_service_pb2_grpc as content_grpc
from guild.notify.v1 import notification_pb2
from guild.notify.v1 import notify_service_pb2 as notify_api
from guild.notify.v1 import notify_service_pb2_grpc as notify_grpc
from guild.reputation.v1 import leaderboard_pb2
from guild.reputation.v1 import reputation_service_pb2 as reputation_api
from guild.reputation.v1 import reputation_service_pb2_grpc as reputation_grpc
from guild_common.events.envelope import Envelope
from guild_testing.fixtures import Infra, auth
from guild_testing.polling import eventually

RECHECK_SECONDS = 1.0


@pytest.fixture(scope="module")
def suite_env() -> Mapping[str, str]:
    """Content confirms memberships with community after a second here (10 s by default)."""
    return {"GUILD_MEMBERSHIP_RECHECK_SECONDS": str(RECHECK_SECONDS)}


@dataclass
class Clients:
    community: community_grpc.CommunityServiceStub
    content: content_grpc.ContentServiceStub
    reputation: reputation_grpc.ReputationServiceStub
    notify: notify_grpc.NotifyServiceStub

    async def standing(self, community_id: str, member: str) -> leaderboard_pb2.Standing:
        response = await self.reputation.GetStanding(
            reputation_api.GetStandingRequest(community_id=community_id, member_id=member),
            metadata=auth(member),
        )
        standing: leaderboard_pb2.Standing = response.standing
        return standing

    async def inbox(self, member: str) -> list[notification_pb2.Notification]:
        response = await self.notify.ListNotifications(
            notify_api.ListNotificationsRequest(), metadata=auth(member)
        )
        return list(response.notifications)


@dataclass
class Loop:
    community_id: str
    question_id: str
    answer_id: str


@pytest.fixture(scope="module")
def clients(suite: SuiteProcesses) -> Clients:
    return Clients(
        community_grpc.CommunityServiceStub(suite.channel("community")),
        content_grpc.ContentServiceStub(suite.channel("content")),
        reputation_grpc.ReputationServiceStub(suite.channel("reputation")),
        notify_grpc.NotifyServiceStub(suite.channel("notify")),
    )


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def loop(clients: Clients) -> Loop:
    """The learning loop, driven over gRPC as client apps would."""
    created = await clients.community.CreateCommunity(
        community_api.CreateCommunityRequest(
            name="New starters EMEA", slug="new-starters-emea", programme="induction", region="emea"
        ),
        metadata=auth("olivia"),
    )
    community_id = created.community.id
    for person in ("ann", "bob"):
        await clients.community.JoinCommunity(
            community_api.JoinCommunityRequest(community_id=community_id), metadata=auth(person)
        )
    # Right after joining: content learns the membership by read-through if the event has not arrived.
    question = await clients.content.AskQuestion(
        content_api.AskQuestionRequest(
            community_id=community_id, title="How do I book my first week's training?", tags=["training"]
        ),
        metadata=auth("ann"),
    )
    answer = await clients.content.AnswerQuestion(
        content_api.AnswerQuestionRequest(question_id=question.question.id, body="Use the LMS calendar."),
        metadata=auth("bob"),
    )
    await clients.content.AcceptAnswer(
        content_api.AcceptAnswerRequest(question_id=question.question.id, answer_id=answer.answer.id),
        metadata=auth("ann"),
    )
    return Loop(community_id, question.question.id, answer.answer.id)


async def test_members_are_listed_with_their_roles(clients: Clients, loop: Loop) -> None:
    members = await clients.community.ListMembers(
        community_api.ListMembersRequest(community_id=loop.community_id), metadata=auth("ann")
    )
    roles = {m.member_id: community_pb2.Role.Name(m.role) for m in members.members}
    assert roles == {"olivia": "ROLE_OWNER", "ann": "ROLE_MEMBER", "bob": "ROLE_MEMBER"}


async def test_the_answerer_earns_points_and_rank(clients: Clients, loop: Loop) -> None:
    bob = await eventually(lambda: clients.standing(loop.community_id, "bob"), lambda s: s.points == 20)
    ann = await eventually(lambda: clients.standing(loop.community_id, "ann"), lambda s: s.points == 2)
    assert (bob.rank, ann.rank) == (1, 2)
    board = await clients.reputation.GetLeaderboard(
        reputation_api.GetLeaderboardRequest(community_id=loop.community_id), metadata=auth("olivia")
    )
    assert [(s.member_id, s.points) for s in board.standings] == [("bob", 20), ("ann", 2)]


async def test_the_answerer_hears_of_the_acceptance_and_the_asker_of_the_answer(
    clients: Clients, loop: Loop
) -> None:
    accepted = notification_pb2.NOTIFICATION_TYPE_ANSWER_ACCEPTED
    new_answer = notification_pb2.NOTIFICATION_TYPE_NEW_ANSWER
    bob = await eventually(lambda: clients.inbox("bob"), lambda inbox: any(n.type == accepted for n in inbox))
    assert [(n.subject_id, n.actor_id) for n in bob if n.type == accepted] == [(loop.question_id, "ann")]
    ann = await eventually(
        lambda: clients.inbox("ann"), lambda inbox: any(n.type == new_answer for n in inbox)
    )
    assert [n.actor_id for n in ann if n.type == new_answer] == ["bob"]
    # Neither hears of their own actions.
    assert not [n for n in bob if n.type == new_answer]
    assert not [n for n in ann if n.type == accepted]


async def test_accept_answer_and_its_consumers_share_one_trace(otlp: OtlpReceiver, loop: Loop) -> None:
    def consumers_in_accept_trace(spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
        """The AcceptAnswer span of this module's loop (other modules' spans reach the same receiver)
        with the reputation and notify consumer spans of the same trace."""
        accepts = [
            s
            for s in spans
            if s.kind == "SERVER" and s.service_name == "guild-content" and s.name.endswith("/AcceptAnswer")
        ]
        for accept in accepts:
            consumers = [
                s
                for s in spans
                if s.trace_id == accept.trace_id
                and s.kind == "CONSUMER"
                and s.attributes.get("cloudevents.event_type") == "guild.content.answer_accepted.v1"
                and str(s.attributes.get("messaging.destination.name", "")).startswith(
                    "guild.emea.induction.content."
                )
            ]
            if {"guild-reputation", "guild-notify"} <= {s.service_name for s in consumers}:
                return [accept, *consumers]
        return []

    spans = await otlp.wait_for(consumers_in_accept_trace, timeout=20)
    accept, *consumers = spans
    assert {s.trace_id for s in spans} == {accept.trace_id}
    producer = [s for s in otlp.trace(accept.trace_id) if s.kind == "PRODUCER"]
    assert producer, otlp.summary(otlp.trace(accept.trace_id))
    assert producer[0].attributes["messaging.system"] == "nats"
    for consumer in consumers:
        assert consumer.attributes["messaging.operation.type"] == "process"
        assert consumer.attributes["messaging.destination.name"].startswith("guild.emea.induction.content.")


async def test_an_event_delivered_twice_awards_points_once(
    clients: Clients, loop: Loop, infra: Infra, suite: SuiteProcesses
) -> None:
    await eventually(lambda: clients.standing(loop.community_id, "bob"), lambda s: s.points == 20)
    nc = await nats.connect(infra.nats_url)
    js = nc.jetstream()
    sub = await js.pull_subscribe("guild.*.*.content.answer_accepted", stream="GUILD_CONTENT")
    original = (await sub.fetch(1, timeout=5))[0]
    accepted = Envelope.from_message(original.subject, original.headers, original.data)
    # Redelivered under another NATS message id, as after a publisher crash outside the dedupe window.
    await js.publish(accepted.topic, accepted.data, headers={**accepted.headers(), "Nats-Msg-Id": "again-1"})
    await js.publish(accepted.topic, accepted.data, headers={**accepted.headers(), "Nats-Msg-Id": "again-2"})
    await nc.close()
    # A later question by Bob is a marker: once its points arrive, the redeliveries before it are handled.
    await clients.content.AskQuestion(
        content_api.AskQuestionRequest(community_id=loop.community_id, title="Where is the canteen?"),
        metadata=auth("bob"),
    )
    bob = await eventually(lambda: clients.standing(loop.community_id, "bob"), lambda s: s.points >= 22)
    assert bob.points == 22
    acceptances = [
        n for n in await clients.inbox("bob") if n.type == notification_pb2.NOTIFICATION_TYPE_ANSWER_ACCEPTED
    ]
    assert len(acceptances) == 1
    duplicates = [
        line
        for line in suite.log_lines("reputation")
        if line.get("event") == "event"
        and line.get("outcome") == "duplicate"
        and line.get("event_id") == accepted.id
    ]
    assert len(duplicates) >= 2  # both redeliveries were seen, and recognised


async def test_a_write_made_while_nats_is_down_is_published_when_it_is_back(
    clients: Clients, loop: Loop, infra: Infra
) -> None:
    # The loop's question earned Ann 2 points; wait for them so the outage starts from a settled total.
    before = await eventually(lambda: clients.standing(loop.community_id, "ann"), lambda s: s.points >= 2)
    infra.nats.stop()
    try:
        asked = await clients.content.AskQuestion(
            content_api.AskQuestionRequest(
                community_id=loop.community_id, title="Who runs the onboarding quiz?"
            ),
            metadata=auth("ann"),
        )
        assert asked.question.id
        await asyncio.sleep(1.0)
        unchanged = await clients.standing(loop.community_id, "ann")
        assert unchanged.points == before.points
    finally:
        infra.nats.start()
    after = await eventually(
        lambda: clients.standing(loop.community_id, "ann"),
        lambda s: s.points >= before.points + 2,
        timeout=40,
    )
    assert after.points == before.points + 2


async def test_a_ban_made_while_nats_is_down_takes_effect_in_content_within_the_recheck(
    clients: Clients, loop: Loop, infra: Infra
) -> None:
    await clients.community.JoinCommunity(
        community_api.JoinCommunityRequest(community_id=loop.community_id), metadata=auth("carl")
    )
    await clients.content.AskQuestion(
        content_api.AskQuestionRequest(community_id=loop.community_id, title="Where do I park on day one?"),
        metadata=auth("carl"),
    )
    infra.nats.stop()
    try:
        await clients.community.BanMember(
            community_api.BanMemberRequest(community_id=loop.community_id, member_id="carl"),
            metadata=auth("olivia"),
        )
        # The member_left event cannot reach content; its recheck with community (1 s here) still ends
        # carl's access.
        await asyncio.sleep(RECHECK_SECONDS + 0.2)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await clients.content.AskQuestion(
                content_api.AskQuestionRequest(
                    community_id=loop.community_id, title="Can I still post here?"
                ),
                metadata=auth("carl"),
            )
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        # Members in good standing are confirmed the same way and keep posting.
        await clients.content.AskQuestion(
            content_api.AskQuestionRequest(
                community_id=loop.community_id, title="Is the lift working today?"
            ),
            metadata=auth("ann"),
        )
    finally:
        infra.nats.start()


async def test_bad_input_across_processes(clients: Clients, loop: Loop) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await clients.content.AskQuestion(
            content_api.AskQuestionRequest(community_id=loop.community_id, title="Can I join?"),
            metadata=auth("mallory"),
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await clients.content.AcceptAnswer(
            content_api.AcceptAnswerRequest(question_id=loop.question_id, answer_id=loop.answer_id),
            metadata=auth("bob"),
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await clients.content.GetQuestion(
            content_api.GetQuestionRequest(question_id="nope"), metadata=auth("ann")
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await clients.reputation.GetLeaderboard(
            reputation_api.GetLeaderboardRequest(community_id=loop.community_id)
        )
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
