"""Two replicas of every service on one set of databases: what each request and event does happens once.

Two ``SuiteProcesses`` share a run id, so each service runs as two processes on the same MongoDB
database and the same durable JetStream consumers (which then share the messages between them), as two
pods of a Kubernetes Deployment do. Every request below goes to both replicas at once (joins, answers,
votes, and each vote twice), and the outcome must be exactly what the actions imply:

- community: the member count is the number of distinct members, whichever replica each join or leave
  reached;
- content: each answer's score is the number of distinct voters, though each vote was cast on both replicas;
- reputation: points follow the rules, with a daily cap on upvote points that events handled by two
  consumer processes at once must not exceed (a read-then-write cap check would);
- notify: the asker gets one new-answer notification per answer, numbered without gaps or repeats, and
  the unread count equals what the inbox lists.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import pytest_asyncio
from tests.integration.harness import SuiteProcesses, reset_jetstream

from guild.community.v1 import community_service_pb2 as community_api
from guild.community.v1 import community_service_pb2_grpc as community_grpc
from guild.content.v1 import content_service_pb2 as content_api
from guild.content.v1 import content_service_pb2_grpc as content_grpc
from guild.content.v1 import question_pb2
from guild.notify.v1 import notification_pb2 as npb
from guild.notify.v1 import notify_service_pb2 as notify_api
from guild.notify.v1 import notify_service_pb2_grpc as notify_grpc
from guild.reputation.v1 import points_rules_pb2 as rules_pb
from guild.reputation.v1 import reputation_service_pb2 as reputation_api
from guild.reputation.v1 import reputation_service_pb2_grpc as reputation_grpc
from guild_testing import polling
from guild_testing.calendar import clear_of_midnight
from guild_testing.fixtures import Infra, auth

T = TypeVar("T")

OWNER = "olivia"
ASKER = "asker"
EXPERTS = ("ex0", "ex1", "ex2")
VOTERS = tuple(f"voter{i:02d}" for i in range(10))
UPVOTE_POINTS = 10
UPVOTE_CAP = 30
NEW_ANSWER = npb.NOTIFICATION_TYPE_NEW_ANSWER


@dataclass(frozen=True)
class Replica:
    community: community_grpc.CommunityServiceStub
    content: content_grpc.ContentServiceStub
    reputation: reputation_grpc.ReputationServiceStub
    notify: notify_grpc.NotifyServiceStub


def replica(suite: SuiteProcesses) -> Replica:
    return Replica(
        community_grpc.CommunityServiceStub(suite.channel("community")),
        content_grpc.ContentServiceStub(suite.channel("content")),
        reputation_grpc.ReputationServiceStub(suite.channel("reputation")),
        notify_grpc.NotifyServiceStub(suite.channel("notify")),
    )


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def replicas(infra: Infra) -> AsyncIterator[tuple[Replica, Replica]]:
    await reset_jetstream(infra.nats_url)
    first = SuiteProcesses.for_infra(infra)
    second = SuiteProcesses.for_infra(infra, run_id=first.run_id)  # same databases, other ports
    assert [first.database(s) for s in first.services] == [second.database(s) for s in second.services]
    try:
        await first.start_all()
        await second.start_all()
        yield replica(first), replica(second)
        for suite in (first, second):
            await suite.stop_all()
    finally:
        for suite in (first, second):
            await suite.aclose()


async def on_both(call: Callable[[Replica], Awaitable[T]], pair: tuple[Replica, Replica]) -> list[T]:
    """The same request sent to both replicas at once."""
    return list(await asyncio.gather(call(pair[0]), call(pair[1])))


async def eventually(probe: Callable[[], Awaitable[T]], wanted: T, timeout: float = 60.0) -> T:
    return await polling.eventually(probe, lambda value: value == wanted, timeout)


async def until_member(r: Replica, community_id: str, member: str) -> None:
    """Content learns of a join by event: ask until it no longer refuses the member."""

    async def probe() -> bool:
        try:
            await r.content.ListQuestions(
                content_api.ListQuestionsRequest(community_id=community_id, page_size=1),
                metadata=auth(member),
            )
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.NOT_FOUND):
                return False
            raise
        return True

    await polling.eventually(probe, bool, 30.0)


async def test_requests_and_events_split_over_two_replicas_count_once(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    # The upvote cap is per UTC day: every vote must count towards the same day's cap.
    await clear_of_midnight()
    created = await a.community.CreateCommunity(
        community_api.CreateCommunityRequest(
            name="Replicated guild", slug="replicated-guild", programme="ops", region="emea"
        ),
        metadata=auth(OWNER),
    )
    community_id = created.community.id
    await b.reputation.SetPointsRules(
        reputation_api.SetPointsRulesRequest(
            community_id=community_id,
            rules=[rules_pb.PointsRule(rule="upvote_received", points=UPVOTE_POINTS, daily_cap=UPVOTE_CAP)],
        ),
        metadata=auth(OWNER),
    )
    rules = await a.reputation.GetPointsRules(
        reputation_api.GetPointsRulesRequest(community_id=community_id), metadata=auth(OWNER)
    )
    points = {rule.rule: int(rule.points) for rule in rules.rules}
    assert points["upvote_received"] == UPVOTE_POINTS

    # Everyone joins on both replicas at once.
    members = (ASKER, *EXPERTS, *VOTERS)
    before = (
        await a.community.GetCommunity(
            community_api.GetCommunityRequest(community_id=community_id), metadata=auth(OWNER)
        )
    ).community.member_count

    async def join(r: Replica, member: str) -> Any:
        return await r.community.JoinCommunity(
            community_api.JoinCommunityRequest(community_id=community_id), metadata=auth(member)
        )

    await asyncio.gather(*(on_both(lambda r, m=m: join(r, m), replicas) for m in members))  # type: ignore[misc]

    async def member_counts() -> list[int]:
        got = await on_both(
            lambda r: r.community.GetCommunity(
                community_api.GetCommunityRequest(community_id=community_id), metadata=auth(OWNER)
            ),
            replicas,
        )
        return [response.community.member_count for response in got]

    assert await member_counts() == [before + len(members)] * 2
    await asyncio.gather(*(until_member(r, community_id, m) for m in members for r in replicas))

    asked = await a.content.AskQuestion(
        content_api.AskQuestionRequest(
            community_id=community_id, title="How do we rotate the on-call rota fairly?", tags=["oncall"]
        ),
        metadata=auth(ASKER),
    )
    question_id = asked.question.id
    answers: list[question_pb2.Answer] = []
    for i, expert in enumerate(EXPERTS):
        answered = await replicas[i % 2].content.AnswerQuestion(
            content_api.AnswerQuestionRequest(
                question_id=question_id, body=f"What worked for team {i}: weekly swaps, posted early."
            ),
            metadata=auth(expert),
        )
        answers.append(answered.answer)

    # Every voter upvotes every answer, each vote sent to both replicas at once.
    voters = (ASKER, *VOTERS)

    async def upvote(r: Replica, voter: str, answer_id: str) -> Any:
        return await r.content.CastVote(
            content_api.CastVoteRequest(target_id=answer_id, direction=question_pb2.VOTE_DIRECTION_UP),
            metadata=auth(voter),
        )

    await asyncio.gather(
        *(
            on_both(lambda r, v=v, ans=ans.id: upvote(r, v, ans), replicas)  # type: ignore[misc]
            for v in voters
            for ans in answers
        )
    )
    await b.content.AcceptAnswer(
        content_api.AcceptAnswerRequest(question_id=question_id, answer_id=answers[0].id),
        metadata=auth(ASKER),
    )

    async def scores() -> list[list[int]]:
        got = await on_both(
            lambda r: r.content.GetQuestion(
                content_api.GetQuestionRequest(question_id=question_id), metadata=auth(ASKER)
            ),
            replicas,
        )
        return [sorted(int(answer.score) for answer in response.answers) for response in got]

    assert await scores() == [[len(voters)] * len(EXPERTS)] * 2

    # Some voters leave, each on both replicas at once; one joins again on both.
    leavers = VOTERS[:3]

    async def leave(r: Replica, member: str) -> bool:
        """True when this request made the member leave; False when the other replica's did."""
        try:
            await r.community.LeaveCommunity(
                community_api.LeaveCommunityRequest(community_id=community_id), metadata=auth(member)
            )
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND:
                raise
            return False
        return True

    left = await asyncio.gather(*(on_both(lambda r, m=m: leave(r, m), replicas) for m in leavers))  # type: ignore[misc]
    assert all(any(outcomes) for outcomes in left), left
    await on_both(lambda r: join(r, leavers[0]), replicas)
    assert await member_counts() == [before + len(members) - len(leavers) + 1] * 2

    capped_votes = min(len(voters) * UPVOTE_POINTS, UPVOTE_CAP)
    expected = {
        ASKER: points["question_asked"],
        EXPERTS[0]: points["answer_posted"] + capped_votes + points["answer_accepted"],
        EXPERTS[1]: points["answer_posted"] + capped_votes,
        EXPERTS[2]: points["answer_posted"] + capped_votes,
    }

    async def standings() -> list[dict[str, int]]:
        boards = await on_both(
            lambda r: r.reputation.GetLeaderboard(
                reputation_api.GetLeaderboardRequest(community_id=community_id, top=50),
                metadata=auth(OWNER),
            ),
            replicas,
        )
        return [{s.member_id: int(s.points) for s in board.standings if s.points} for board in boards]

    assert await eventually(standings, [expected, expected])

    async def new_answers() -> list[tuple[str, ...]]:
        inboxes = await on_both(
            lambda r: r.notify.ListNotifications(
                notify_api.ListNotificationsRequest(page_size=50), metadata=auth(ASKER)
            ),
            replicas,
        )
        return [
            tuple(sorted(n.actor_id for n in inbox.notifications if n.type == NEW_ANSWER))
            for inbox in inboxes
        ]

    wanted: list[tuple[str, ...]] = [EXPERTS, EXPERTS]
    assert await eventually(new_answers, wanted)
    inbox = await a.notify.ListNotifications(
        notify_api.ListNotificationsRequest(page_size=50), metadata=auth(ASKER)
    )
    sequences = sorted(n.sequence for n in inbox.notifications)
    assert sequences == list(range(sequences[0], sequences[0] + len(sequences))), sequences
    unread = await on_both(
        lambda r: r.notify.GetUnreadCount(notify_api.GetUnreadCountRequest(), metadata=auth(ASKER)),
        replicas,
    )
    listed_unread = sum(not n.read for n in inbox.notifications)
    assert [u.unread_count for u in unread] == [listed_unread, listed_unread]
