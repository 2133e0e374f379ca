"""The reputation gRPC service on in-memory ports, in this process (no FerretDB, no NATS): what the
servicer and the request interceptor add to the use cases (messages, status codes and their details),
over the events the world has handled."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio
from google.rpc import error_details_pb2
from services.reputation.tests.app_world import C1, World, meta, serving

from guild.reputation.v1 import leaderboard_pb2 as pb
from guild.reputation.v1 import points_rules_pb2 as rules_pb
from guild.reputation.v1 import reputation_service_pb2 as api
from guild.reputation.v1 import reputation_service_pb2_grpc as api_grpc
from guild_reputation.domain import integration_events as ev
from guild_testing.fixtures import auth
from guild_testing.status import details_of, field_violations

TAGS = ("go",)


@pytest_asyncio.fixture
async def world() -> World:
    """olivia owns ``C1``, max is a member; ann asked, bob answered (accepted), cat asked."""
    world = World()
    await world.join("olivia", C1, "owner")
    await world.join("max", C1)
    await world.ask("q1", "ann", tags=TAGS)
    await world.answer("a1", "q1", "bob", "ann")
    await world.handle(ev.AnswerAccepted(meta(), "a1", "q1", C1, "bob", "ann", "T", TAGS))
    await world.ask("q2", "cat")
    return world


@pytest_asyncio.fixture
async def stub(world: World) -> AsyncIterator[api_grpc.ReputationServiceStub]:
    async with serving(world) as stub:
        yield stub


async def test_boards_and_standings(stub: api_grpc.ReputationServiceStub) -> None:
    top = await stub.GetLeaderboard(api.GetLeaderboardRequest(community_id=C1), metadata=auth("max"))
    assert [(s.member_id, s.points, s.rank) for s in top.standings] == [
        ("bob", 20, 1),
        ("ann", 2, 2),
        ("cat", 2, 3),
    ]
    assert top.total_members == 3
    standing = await stub.GetStanding(
        api.GetStandingRequest(community_id=C1, member_id="bob"), metadata=auth("max")
    )
    assert standing.standing == pb.Standing(member_id="bob", points=20, rank=1)
    nobody = await stub.GetStanding(
        api.GetStandingRequest(community_id=C1, member_id="zed"), metadata=auth("max")
    )
    assert (nobody.standing.points, nobody.standing.rank) == (0, 0)


async def test_invalid_requests_name_their_fields(stub: api_grpc.ReputationServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetLeaderboard(api.GetLeaderboardRequest(community_id=C1, top=1000), metadata=auth("a"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(caught.value)) == {"top"}
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetStanding(api.GetStandingRequest(community_id=""), metadata=auth("a"))
    assert set(field_violations(caught.value)) == {"community_id"}


async def test_a_call_without_a_token_is_unauthenticated(stub: api_grpc.ReputationServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetLeaderboard(api.GetLeaderboardRequest(community_id=C1))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_owners_set_points_rules_and_others_are_told_the_role_required(
    stub: api_grpc.ReputationServiceStub,
) -> None:
    request = api.SetPointsRulesRequest(
        community_id=C1, rules=[rules_pb.PointsRule(rule="question_asked", points=7, daily_cap=14)]
    )
    response = await stub.SetPointsRules(request, metadata=auth("olivia"))
    assert {r.rule: (r.points, r.daily_cap) for r in response.rules}["question_asked"] == (7, 14)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.SetPointsRules(request, metadata=auth("max"))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    (info,) = details_of(caught.value, error_details_pb2.ErrorInfo)
    assert (info.reason, info.metadata["required_role"]) == ("NOT_COMMUNITY_OWNER", "owner")
    bad = api.SetPointsRulesRequest(
        community_id=C1,
        rules=[
            rules_pb.PointsRule(rule="question_asked", points=5000),
            rules_pb.PointsRule(rule="made_up", points=1),
        ],
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.SetPointsRules(bad, metadata=auth("olivia"))
    assert set(field_violations(caught.value)) == {"rules[0].points", "rules[1].rule"}
    got = await stub.GetPointsRules(api.GetPointsRulesRequest(community_id=C1), metadata=auth("max"))
    assert {r.rule: r.points for r in got.rules}["question_asked"] == 7


async def test_badges_page_and_the_champion_badge_is_granted_once(
    stub: api_grpc.ReputationServiceStub,
) -> None:
    first = await stub.ListBadges(api.ListBadgesRequest(member_id="bob", page_size=1), metadata=auth("x"))
    assert first.next_page_token
    rest = await stub.ListBadges(
        api.ListBadgesRequest(member_id="bob", page_size=100, page_token=first.next_page_token),
        metadata=auth("x"),
    )
    assert {a.badge for a in [*first.awards, *rest.awards]} == {"first_answer", "first_accepted_answer"}
    grant = api.GrantChampionBadgeRequest(community_id=C1, member_id="max", citation="Ran the clinic")
    granted = await stub.GrantChampionBadge(grant, metadata=auth("olivia"))
    assert (granted.award.badge, granted.award.granted_by) == ("champion", "olivia")
    for request, caller, code in (
        (grant, "olivia", grpc.StatusCode.ALREADY_EXISTS),
        (grant, "max", grpc.StatusCode.PERMISSION_DENIED),
        (
            api.GrantChampionBadgeRequest(community_id=C1, member_id="zed", citation="x"),
            "olivia",
            grpc.StatusCode.NOT_FOUND,
        ),
        (
            api.GrantChampionBadgeRequest(community_id=C1, member_id="max", citation=" "),
            "olivia",
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GrantChampionBadge(request, metadata=auth(caller))
        assert caught.value.code() == code


async def test_tag_boards_page_with_ranks(stub: api_grpc.ReputationServiceStub) -> None:
    first = await stub.ListTopMembersByTag(
        api.ListTopMembersByTagRequest(community_id=C1, tag="Go", page_size=1), metadata=auth("max")
    )
    second = await stub.ListTopMembersByTag(
        api.ListTopMembersByTagRequest(
            community_id=C1, tag="go", page_size=1, page_token=first.next_page_token
        ),
        metadata=auth("max"),
    )
    assert [(s.member_id, s.points, s.rank) for s in [*first.standings, *second.standings]] == [
        ("bob", 20, 1),
        ("ann", 2, 2),
    ]
    assert not second.next_page_token
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ListTopMembersByTag(
            api.ListTopMembersByTagRequest(community_id=C1, tag="go"), metadata=auth("zed")
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_hidden_community_is_not_found_to_outsiders(
    world: World, stub: api_grpc.ReputationServiceStub
) -> None:
    await world.create_community(C1, "hidden")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetLeaderboard(api.GetLeaderboardRequest(community_id=C1), metadata=auth("stranger"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert caught.value.details() == f"no community {C1} is known"
    board = await stub.GetLeaderboard(api.GetLeaderboardRequest(community_id=C1), metadata=auth("max"))
    assert board.total_members == 3
    everywhere = await stub.GetLeaderboard(
        api.GetLeaderboardRequest(all_communities=True), metadata=auth("stranger")
    )
    assert list(everywhere.standings) == []
