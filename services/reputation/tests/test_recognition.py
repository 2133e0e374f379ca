"""Contribution summaries kept from content and community events, on real FerretDB and NATS."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.message import Message
from services.reputation.tests.support import C1, C2, Producer

from guild.events.v1 import community_events_pb2 as community_events
from guild.events.v1 import content_events_pb2 as events
from guild.events.v1 import reputation_events_pb2 as reputation_events
from guild.reputation.v1 import recognition_pb2 as recognition_pb
from guild.reputation.v1 import reputation_service_pb2 as api
from guild.reputation.v1 import reputation_service_pb2_grpc as api_grpc
from guild_common.settings import ServiceSettings
from guild_reputation.bootstrap import build
from guild_reputation.config import ReputationSettings
from guild_reputation.domain.recognition import ANY_ROLE, RoleChange, RoleHeld, roles_held, top_tags
from guild_testing.fixtures import auth, token_for
from guild_testing.inprocess import running_service
from guild_testing.status import expect_request_id_reused

DAY = timedelta(days=1)
SERVICE = [("authorization", f"Bearer {token_for('hr', scopes=('service',))}")]


def test_roles_held_and_top_tags() -> None:
    t = [datetime(2026, 1, d, tzinfo=UTC) for d in range(1, 11)]
    changes = [
        RoleChange("c", "champion", True, t[0]),
        RoleChange("c", "champion", False, t[2]),  # ended before the period
        RoleChange("c", "curator", True, t[3]),
        RoleChange("c", "moderator", True, t[4]),
        RoleChange("c", ANY_ROLE, False, t[6]),  # left: every role ends
        RoleChange("c", "member", True, t[7]),  # plain membership is not named
        RoleChange("d", "owner", True, t[9]),  # granted after the period
    ]
    assert roles_held(changes, t[5], t[8]) == [
        RoleHeld("c", "curator", t[3], t[6]),
        RoleHeld("c", "moderator", t[4], t[6]),
    ]
    assert top_tags([["b", "a", "a"], ["a"], ["c", "b"]], limit=2) == [("a", 2), ("b", 2)]


async def _summary(
    stub: api_grpc.ReputationServiceStub, ready: Callable[[recognition_pb.ContributionSummary], bool]
) -> recognition_pb.ContributionSummary:
    for _ in range(200):
        try:
            response = await stub.GetContributionSummary(
                api.GetContributionSummaryRequest(member_id="ann"), metadata=SERVICE
            )
        except grpc.aio.AioRpcError as error:  # no event about ann handled yet
            if error.code() != grpc.StatusCode.NOT_FOUND:
                raise
            await asyncio.sleep(0.05)
            continue
        summary: recognition_pb.ContributionSummary = response.summary
        if ready(summary):
            return summary
        await asyncio.sleep(0.05)
    raise AssertionError("the summary never settled")


async def test_contribution_summary_and_its_issue_for_hr(
    settings_for: Callable[..., ServiceSettings], producer: Producer
) -> None:
    async def community(name: str, message: Message, days_ago: float) -> None:
        await producer.emit(name, message, service="community", age=days_ago * DAY)

    async def content(name: str, message: Message, days_ago: float) -> None:
        await producer.emit(name, message, age=days_ago * DAY)

    def joined(member: str, community_id: str = C1, role: str = "member") -> community_events.MemberJoined:
        return community_events.MemberJoined(
            community_id=community_id, member_id=member, role=role, region="emea", programme="sales"
        )

    def answer(answer_id: str, question: str) -> events.AnswerPosted:
        return events.AnswerPosted(
            answer_id=answer_id,
            question_id=question,
            community_id=C1,
            author_id="ann",
            question_author_id="cat",
        )

    def accepted(answer_id: str, question: str) -> events.AnswerAccepted:
        return events.AnswerAccepted(
            answer_id=answer_id,
            question_id=question,
            community_id=C1,
            answer_author_id="ann",
            question_author_id="cat",
        )

    def rated(item: str, average: float, count: int) -> events.ItemRated:
        return events.ItemRated(
            item_id=item,
            item_kind="resource",
            community_id=C1,
            author_id="ann",
            rater_id="cat",
            stars=4,
            average=average,
            count=count,
        )

    async with running_service(settings_for(ReputationSettings), build) as service:
        stub = api_grpc.ReputationServiceStub(service.channel)
        await community("member_joined", joined("ann"), 30)
        await community("member_joined", joined("bob", role="owner"), 30)
        await community("member_joined", joined("zed", C2), 30)
        grant = community_events.RoleGranted(
            community_id=C1, member_id="ann", role="champion", previous_role="member"
        )
        await community("role_granted", grant, 20)
        revoke = community_events.RoleRevoked(
            community_id=C1, member_id="ann", role="champion", current_role="member"
        )
        await community("role_revoked", revoke, 10)
        await community(
            "role_granted",
            community_events.RoleGranted(
                community_id=C1, member_id="ann", role="curator", previous_role="member"
            ),
            5,
        )
        await content(
            "question_asked",
            events.QuestionAsked(question_id="q1", community_id=C1, author_id="ann", tags=["python", "sql"]),
            9,
        )
        for question, tags in (("q2", ["python"]), ("q3", ["go"])):
            await content(
                "question_asked",
                events.QuestionAsked(question_id=question, community_id=C1, author_id="cat", tags=tags),
                9,
            )
        await content("answer_posted", answer("a2", "q2"), 8)
        await content("answer_posted", answer("a3", "q3"), 8)
        await content("answer_accepted", accepted("a2", "q2"), 7)
        await content("answer_accepted", accepted("a3", "q3"), 7)
        await content(
            "answer_unaccepted",
            events.AnswerUnaccepted(
                answer_id="a3", question_id="q3", community_id=C1, answer_author_id="ann"
            ),
            6,
        )
        await content(
            "comment_posted",
            events.CommentPosted(comment_id="m1", post_id="q2", community_id=C1, author_id="ann"),
            6,
        )
        for resource in ("r1", "r2"):
            await content(
                "resource_shared",
                events.ResourceShared(resource_id=resource, community_id=C1, author_id="ann"),
                6,
            )
        await content("item_rated", rated("r1", 4.0, 1), 5)
        await content("item_rated", rated("r1", 4.5, 2), 4)  # the latest average counts
        await content("item_rated", rated("r2", 3.0, 1), 4)
        # Collections she published in the period, each counted once; one from before it does not count.
        published = (
            ("k0", "ann", 400),
            ("k1", "ann", 3),
            ("k1", "ann", 2),
            ("k2", "ann", 2),
            ("k3", "cat", 2),
        )
        for collection, curator_id, days_ago in published:
            await content(
                "collection_published",
                events.CollectionPublished(collection_id=collection, community_id=C1, curator_id=curator_id),
                days_ago,
            )

        summary = await _summary(
            stub, lambda s: s.resource_ratings == 3 and len(s.roles) == 2 and s.collections_curated >= 2
        )
        assert summary.collections_curated == 2
        assert (summary.questions, summary.answers, summary.accepted_answers, summary.comments) == (
            1,
            2,
            1,
            1,
        )
        assert (summary.resources_shared, summary.resource_average_rating) == (2, 4.0)
        assert [(t.tag, t.count) for t in summary.top_tags] == [("python", 2), ("go", 1), ("sql", 1)]
        assert list(summary.community_ids) == [C1]
        champion, curator = summary.roles
        assert (champion.role, curator.role) == ("champion", "curator")
        assert champion.HasField("until")
        assert not curator.HasField("until")
        assert {b.badge for b in summary.badges} >= {
            "first_question",
            "first_answer",
            "first_accepted_answer",
        }

        # Herself and an owner of her community may read it; someone sharing no community may not.
        own = await stub.GetContributionSummary(api.GetContributionSummaryRequest(), metadata=auth("ann"))
        assert own.summary.answers == 2
        by_owner = await stub.GetContributionSummary(
            api.GetContributionSummaryRequest(member_id="ann"), metadata=auth("bob")
        )
        assert by_owner.summary.questions == 1
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await stub.GetContributionSummary(
                api.GetContributionSummaryRequest(member_id="ann"), metadata=auth("zed")
            )
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await stub.GetContributionSummary(
                api.GetContributionSummaryRequest(member_id="nobody"), metadata=SERVICE
            )
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND

        # The owner issues it for HR systems, once per request id.
        request = api.RequestContributionSummaryRequest(member_id="ann", request_id="review-2026")
        first = await stub.RequestContributionSummary(request, metadata=auth("bob"))
        again = await stub.RequestContributionSummary(request, metadata=auth("bob"))
        assert first.summary_id == again.summary_id
        await expect_request_id_reused(
            stub.RequestContributionSummary(
                api.RequestContributionSummaryRequest(member_id="bob", request_id="review-2026"),
                metadata=auth("bob"),
            )
        )
        db = service.app.infra.db
        assert await db.recognition_summaries.count_documents({"member_id": "ann"}) == 1
        for _ in range(100):
            if await db.recognition_summaries.count_documents({"outbox_pending": True}) == 0:
                break
            await asyncio.sleep(0.05)
        last = await producer.js.get_last_msg(
            "GUILD_REPUTATION", "guild.emea.sales.reputation.recognition_summary_issued"
        )
        issued = reputation_events.RecognitionSummaryIssued()
        issued.ParseFromString(last.data or b"")
        assert (issued.member_id, issued.requested_by, issued.answers) == ("ann", "bob", 2)
        assert issued.collections_curated == 2
        assert list(issued.roles) == [f"{C1}:champion", f"{C1}:curator"]
        assert last.headers is not None
        assert last.headers["ce-type"] == "guild.reputation.recognition_summary_issued.v1"
        with pytest.raises(grpc.aio.AioRpcError) as no_key:
            await stub.RequestContributionSummary(
                api.RequestContributionSummaryRequest(), metadata=auth("ann")
            )
        assert no_key.value.code() == grpc.StatusCode.INVALID_ARGUMENT
