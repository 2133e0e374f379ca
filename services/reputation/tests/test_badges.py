"""Badges earned from content events and the owner-granted champion badge, on real FerretDB and NATS."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import grpc
import nats
import pytest
from services.reputation.tests.support import C1, Producer, badges_of

from guild.events.v1 import community_events_pb2 as community_events
from guild.events.v1 import content_events_pb2 as events
from guild.events.v1 import reputation_events_pb2 as reputation_events
from guild.reputation.v1 import badge_pb2
from guild.reputation.v1 import reputation_service_pb2 as api
from guild.reputation.v1 import reputation_service_pb2_grpc as api_grpc
from guild_common.settings import ServiceSettings
from guild_reputation.bootstrap import build
from guild_reputation.config import ReputationSettings
from guild_reputation.domain.badges import Badge, Tier, tiers_reached, title, weeks_running
from guild_testing.calendar import clear_of_midnight
from guild_testing.fixtures import auth
from guild_testing.inprocess import running_service


def test_tiers_and_titles() -> None:
    assert tiers_reached(Badge.HELPFUL, 9) == []
    assert tiers_reached(Badge.HELPFUL, 25) == [Tier.BRONZE, Tier.SILVER]
    assert tiers_reached(Badge.MENTOR, 200) == [Tier.BRONZE, Tier.SILVER, Tier.GOLD]
    assert title(Badge.MENTOR, Tier.SILVER) == "Mentor (silver)"
    assert title(Badge.FIRST_QUESTION, Tier.BRONZE) == "First question"
    assert weeks_running({"w3", "w2", "w0"}, ["w3", "w2", "w1", "w0"]) == 2
    assert weeks_running({"w2"}, ["w3", "w2"]) == 0


BRONZE, SILVER = badge_pb2.BADGE_TIER_BRONZE, badge_pb2.BADGE_TIER_SILVER


def _answer(answer_id: str, author: str, question: str = "q1", asker: str = "ann") -> events.AnswerPosted:
    return events.AnswerPosted(
        answer_id=answer_id, question_id=question, community_id=C1, author_id=author, question_author_id=asker
    )


async def test_the_catalogue_is_earned_once_from_activity(
    settings_for: Callable[..., ServiceSettings], producer: Producer
) -> None:
    async with running_service(settings_for(ReputationSettings), build) as service:
        stub = api_grpc.ReputationServiceStub(service.channel)
        # ann asks in four weeks running: first question and a bronze streak. Each question is dated by its
        # age when sent: a week turning between two of them would leave a gap in the run.
        await clear_of_midnight()
        for weeks_ago in (3, 2, 1, 0):
            await producer.emit(
                "question_asked",
                events.QuestionAsked(question_id=f"q{weeks_ago + 1}", community_id=C1, author_id="ann"),
                age=timedelta(weeks=weeks_ago),
            )
        # Five others answer q1 (one answer delivered twice): conversation starter for ann.
        posted = [await producer.emit("answer_posted", _answer(f"a{i}", f"p{i}")) for i in range(5)]
        await producer.redeliver(posted[0])
        await producer.emit("answer_posted", _answer("a-self", "ann"))  # her own answer counts for nothing
        # bob answers ten questions of cat's, all accepted: first answer, first accepted, mentor.
        for i in range(10):
            await producer.emit("answer_posted", _answer(f"b{i}", "bob", question=f"c{i}", asker="cat"))
            await producer.emit(
                "answer_accepted",
                events.AnswerAccepted(
                    answer_id=f"b{i}",
                    question_id=f"c{i}",
                    community_id=C1,
                    answer_author_id="bob",
                    question_author_id="cat",
                ),
            )
        # bob's answer b0 reaches a score of 25: helpful bronze and silver.
        for score in (10, 25):
            await producer.emit(
                "vote_changed",
                events.VoteChanged(
                    target_kind="answer",
                    target_id="b0",
                    community_id=C1,
                    voter_id=f"v{score}",
                    target_author_id="bob",
                    previous_value=0,
                    value=1,
                    score=score,
                ),
            )
        ann = await badges_of(
            stub,
            "ann",
            {("first_question", BRONZE), ("streak", BRONZE), ("conversation_starter", BRONZE)},
        )
        assert ("first_answer", BRONZE) not in ann
        bob = await badges_of(
            stub,
            "bob",
            {
                ("first_answer", BRONZE),
                ("first_accepted_answer", BRONZE),
                ("mentor", BRONZE),
                ("helpful", BRONZE),
                ("helpful", SILVER),
            },
        )
        assert ("mentor", SILVER) not in bob
        db = service.app.infra.db
        assert await db.badge_awards.count_documents({"member_id": "bob", "badge": "first_answer"}) == 1
        # Each award is published as badge_awarded for HR systems.
        js = producer.js
        for _ in range(100):
            if await db.badge_awards.count_documents({"outbox_pending": True}) == 0:
                break
            await asyncio.sleep(0.05)
        last = await js.get_last_msg("GUILD_REPUTATION", "guild.emea.sales.reputation.badge_awarded")
        awarded = reputation_events.BadgeAwarded()
        awarded.ParseFromString(last.data or b"")
        assert awarded.community_id == C1
        assert awarded.tier in ("bronze", "silver", "gold")
        assert last.headers is not None
        assert last.headers["ce-type"] == "guild.reputation.badge_awarded.v1"
        # Pages: newest first, keyset tokens.
        first = await stub.ListBadges(api.ListBadgesRequest(member_id="bob", page_size=2), metadata=auth("x"))
        assert len(first.awards) == 2
        assert first.next_page_token
        rest = await stub.ListBadges(
            api.ListBadgesRequest(member_id="bob", page_size=100, page_token=first.next_page_token),
            metadata=auth("x"),
        )
        ids = [a.award_id for a in [*first.awards, *rest.awards]]
        assert len(ids) == len(set(ids)) == len(bob)


async def test_owners_grant_the_champion_badge_with_a_citation(
    settings_for: Callable[..., ServiceSettings], producer: Producer
) -> None:
    async with running_service(settings_for(ReputationSettings), build) as service:
        stub = api_grpc.ReputationServiceStub(service.channel)
        # gone joined and left: known to the read model, and not a member.
        await producer.emit(
            "member_joined",
            community_events.MemberJoined(community_id=C1, member_id="gone", role="member"),
            service="community",
        )
        await producer.emit(
            "member_left",
            community_events.MemberLeft(community_id=C1, member_id="gone", reason="left", actor_id="gone"),
            service="community",
        )
        for member, role in (("olivia", "owner"), ("max", "member")):
            await producer.emit(
                "member_joined",
                community_events.MemberJoined(
                    community_id=C1, member_id=member, role=role, region="emea", programme="sales"
                ),
                service="community",
            )
        grant = api.GrantChampionBadgeRequest(
            community_id=C1, member_id="max", citation="Ran the onboarding clinic every Friday"
        )
        for _ in range(100):  # until the memberships are in the read model
            try:
                granted = await stub.GrantChampionBadge(grant, metadata=auth("olivia"))
                break
            except grpc.aio.AioRpcError:
                await asyncio.sleep(0.05)
        assert (granted.award.badge, granted.award.citation, granted.award.granted_by) == (
            "champion",
            "Ran the onboarding clinic every Friday",
            "olivia",
        )
        cases = [
            (grant, "olivia", grpc.StatusCode.ALREADY_EXISTS),
            (grant, "max", grpc.StatusCode.PERMISSION_DENIED),
            (
                api.GrantChampionBadgeRequest(community_id=C1, member_id="gone", citation="x"),
                "olivia",
                grpc.StatusCode.NOT_FOUND,
            ),
            (
                api.GrantChampionBadgeRequest(community_id=C1, member_id="max", citation=" "),
                "olivia",
                grpc.StatusCode.INVALID_ARGUMENT,
            ),
        ]
        for request, caller, code in cases:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.GrantChampionBadge(request, metadata=auth(caller))
            assert caught.value.code() == code
        listed = await stub.ListBadges(api.ListBadgesRequest(), metadata=auth("max"))
        assert [(a.badge, a.title, a.citation) for a in listed.awards] == [
            ("champion", "Champion", "Ran the onboarding clinic every Friday")
        ]
        # Published for HR systems on the community's region and programme.
        awarded = reputation_events.BadgeAwarded()
        for _ in range(100):
            try:
                last = await producer.js.get_last_msg(
                    "GUILD_REPUTATION", "guild.emea.sales.reputation.badge_awarded"
                )
                awarded.ParseFromString(last.data or b"")
                break
            except nats.js.errors.NotFoundError:
                await asyncio.sleep(0.05)
        assert (awarded.badge, awarded.member_id, awarded.granted_by, awarded.citation) == (
            "champion",
            "max",
            "olivia",
            "Ran the onboarding clinic every Friday",
        )
