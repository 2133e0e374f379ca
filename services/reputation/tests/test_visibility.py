"""A hidden community's figures are answered only to its members (and services): anyone else is told
NOT_FOUND, as for a community that does not exist; the all-communities board leaves its points out."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import grpc
import pytest
from services.reputation.tests.support import Producer

from guild.community.v1 import community_pb2
from guild.community.v1 import community_service_pb2 as community_api
from guild.community.v1 import community_service_pb2_grpc as community_grpc
from guild.events.v1 import content_events_pb2 as events
from guild.reputation.v1 import insights_pb2
from guild.reputation.v1 import reputation_service_pb2 as api
from guild.reputation.v1 import reputation_service_pb2_grpc as api_grpc
from guild_common.settings import ServiceSettings
from guild_community import bootstrap as community_bootstrap
from guild_community.config import CommunitySettings
from guild_reputation.bootstrap import build
from guild_reputation.config import ReputationSettings
from guild_testing.fixtures import auth
from guild_testing.inprocess import running_service


async def _create(
    stub: community_grpc.CommunityServiceStub, slug: str, visibility: community_pb2.Visibility.ValueType
) -> str:
    created = await stub.CreateCommunity(
        community_api.CreateCommunityRequest(
            name=slug, slug=slug, programme="sales", region="emea", visibility=visibility
        ),
        metadata=auth("olivia"),
    )
    return str(created.community.id)


async def _eventually(check: Callable[[], Awaitable[bool]]) -> None:
    for _ in range(200):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("never came true")


def _reads(
    stub: api_grpc.ReputationServiceStub, community_id: str
) -> dict[str, Callable[[str], Awaitable[object]]]:
    return {
        "GetLeaderboard": lambda who: stub.GetLeaderboard(
            api.GetLeaderboardRequest(community_id=community_id), metadata=auth(who)
        ),
        "GetStanding": lambda who: stub.GetStanding(
            api.GetStandingRequest(community_id=community_id, member_id="olivia"), metadata=auth(who)
        ),
        "GetPointsRules": lambda who: stub.GetPointsRules(
            api.GetPointsRulesRequest(community_id=community_id), metadata=auth(who)
        ),
        "ListBadges": lambda who: stub.ListBadges(
            api.ListBadgesRequest(community_id=community_id, member_id="olivia"), metadata=auth(who)
        ),
        "GetInsights": lambda who: stub.GetInsights(
            api.GetInsightsRequest(community_id=community_id), metadata=auth(who)
        ),
        "GetGoalProgress": lambda who: stub.GetGoalProgress(
            api.GetGoalProgressRequest(
                community_id=community_id, metric=insights_pb2.GOAL_METRIC_CONTRIBUTORS_PCT
            ),
            metadata=auth(who),
        ),
        "ListTopMembersByTag": lambda who: stub.ListTopMembersByTag(
            api.ListTopMembersByTagRequest(community_id=community_id, tag="x"), metadata=auth(who)
        ),
        "ListBadgeDefinitions": lambda who: stub.ListBadgeDefinitions(
            api.ListBadgeDefinitionsRequest(community_id=community_id), metadata=auth(who)
        ),
    }


async def test_hidden_community_reads_are_not_found_to_outsiders_and_left_out_of_all_communities(
    settings_for: Callable[..., ServiceSettings], producer: Producer
) -> None:
    async with running_service(settings_for(CommunitySettings), community_bootstrap.build) as community:
        community_stub = community_grpc.CommunityServiceStub(community.channel)
        hidden = await _create(community_stub, "secret", community_pb2.VISIBILITY_HIDDEN)
        shown = await _create(community_stub, "open", community_pb2.VISIBILITY_OPEN)
        settings = settings_for(ReputationSettings, community_addr=community.address)
        async with running_service(settings, build) as service:
            stub = api_grpc.ReputationServiceStub(service.channel)
            await producer.emit(
                "question_asked",
                events.QuestionAsked(question_id="q1", community_id=hidden, author_id="olivia"),
            )
            await producer.emit(
                "question_asked",
                events.QuestionAsked(question_id="q2", community_id=shown, author_id="cat"),
            )
            await producer.emit(
                "question_asked",
                events.QuestionAsked(question_id="q3", community_id=shown, author_id="olivia"),
            )

            async def everything_known() -> bool:
                board = await stub.GetLeaderboard(
                    api.GetLeaderboardRequest(community_id=hidden), metadata=auth("olivia")
                )
                others = await stub.GetLeaderboard(
                    api.GetLeaderboardRequest(community_id=shown), metadata=auth("olivia")
                )
                return len(board.standings) == 1 and len(others.standings) == 2

            await _eventually(everything_known)
            for _ in range(100):  # community events come in their own stream
                if await service.app.infra.db.community_visibility.find_one({"_id": hidden}):
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(2.1)  # past the hidden-set cache of the first reads
            # Every read: NOT_FOUND to an outsider, as for a community that does not exist.
            for name, read in _reads(stub, hidden).items():
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await read("stranger")
                assert caught.value.code() == grpc.StatusCode.NOT_FOUND, name
                assert caught.value.details() == f"no community {hidden} is known", name
            # The owner, a member, gets the figures.
            for read in _reads(stub, hidden).values():
                await read("olivia")
            board = await stub.GetLeaderboard(
                api.GetLeaderboardRequest(community_id=hidden), metadata=auth("olivia")
            )
            assert [s.member_id for s in board.standings] == ["olivia"]
            # The all-communities board counts only points earned in communities not hidden.
            everywhere = await stub.GetLeaderboard(
                api.GetLeaderboardRequest(all_communities=True), metadata=auth("stranger")
            )
            points = {s.member_id: s.points for s in everywhere.standings}
            assert points["olivia"] == points["cat"]
            standing = await stub.GetStanding(
                api.GetStandingRequest(member_id="olivia", all_communities=True), metadata=auth("olivia")
            )
            assert standing.standing.points == points["cat"]
            assert standing.total_members == 2
            # An owner of another community olivia belongs to reads her contributions: only those made
            # in communities that owner may see.
            created = await community_stub.CreateCommunity(
                community_api.CreateCommunityRequest(
                    name="team", slug="team", programme="sales", region="emea"
                ),
                metadata=auth("oscar"),
            )
            team = created.community.id
            await community_stub.InviteMember(
                community_api.InviteMemberRequest(community_id=team, member_id="olivia"),
                metadata=auth("oscar"),
            )
            await community_stub.AcceptInvitation(
                community_api.AcceptInvitationRequest(community_id=team), metadata=auth("olivia")
            )

            async def enrolled() -> bool:
                doc = await service.app.infra.db.community_roles.find_one({"_id": f"{team}:olivia"})
                return doc is not None

            await _eventually(enrolled)
            mine = await stub.GetContributionSummary(
                api.GetContributionSummaryRequest(), metadata=auth("olivia")
            )
            assert hidden in mine.summary.community_ids
            assert mine.summary.questions == 2
            seen = await stub.GetContributionSummary(
                api.GetContributionSummaryRequest(member_id="olivia"), metadata=auth("oscar")
            )
            assert hidden not in seen.summary.community_ids
            assert seen.summary.questions == 1
