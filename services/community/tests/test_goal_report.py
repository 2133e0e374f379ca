"""How a community is doing against its goals, measured by a real reputation service; goal_set events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from guild.community.v1 import community_pb2 as pb
from guild.community.v1 import community_service_pb2 as api
from guild.community.v1 import community_service_pb2_grpc as api_grpc
from guild.community.v1 import goal_pb2 as gpb
from guild.events.v1 import community_events_pb2 as events
from guild_common.grpc.channels import service_channel
from guild_community.adapters.reputation_client import ReputationGoalMeasurer
from guild_community.bootstrap import build
from guild_community.config import CommunitySettings
from guild_community.domain.authorization import ENROL_SCOPE
from guild_community.domain.goals import GoalMetric
from guild_reputation import bootstrap as reputation_bootstrap
from guild_reputation.config import ReputationSettings
from guild_testing.fixtures import auth, token_for
from guild_testing.inprocess import running_service
from guild_testing.status import error_details

from .conftest import EventReader

Stub = api_grpc.CommunityServiceStub
# The owner also holds the scope for enrolling people without asking them (EnrolCohort).
OWNER = auth("olivia", ENROL_SCOPE)
DAY = 86400


async def _pilot_with_goals(stub: Stub) -> str:
    created: api.CreateCommunityResponse = await stub.CreateCommunity(
        api.CreateCommunityRequest(
            name="Sales pilot",
            slug="sales-pilot",
            programme="sales",
            region="amer",
            lifecycle=pb.LIFECYCLE_PILOT,
        ),
        metadata=OWNER,
    )
    cid = created.community.id
    await stub.EnrolCohort(api.EnrolCohortRequest(community_id=cid, member_ids=["ann"]), metadata=OWNER)
    for metric, target in (
        (gpb.GOAL_METRIC_WEEKLY_ACTIVE_MEMBERS_PCT, 60.0),
        (gpb.GOAL_METRIC_MEDIAN_TIME_TO_FIRST_ANSWER_SECONDS, 3600.0),
    ):
        await stub.CreateGoal(
            api.CreateGoalRequest(
                community_id=cid,
                metric=metric,
                target=target,
                deadline=Timestamp(seconds=int(time.time()) + 30 * DAY),
            ),
            metadata=OWNER,
        )
    return cid


async def test_creating_a_goal_publishes_goal_set_on_the_region_and_programme_subject(
    stub: Stub, read_events: EventReader
) -> None:
    cid = await _pilot_with_goals(stub)
    received = await read_events("guild.amer.sales.community.goal_set", 2)
    assert [e.type for e in received] == ["guild.community.goal_set.v1"] * 2
    first = received[0].payload(events.GoalSet)
    assert (first.community_id, first.metric, first.target, first.set_in_lifecycle, first.set_by) == (
        cid,
        "weekly_active_members_pct",
        60.0,
        "pilot",
        "olivia",
    )
    assert (first.region, first.programme) == ("amer", "sales")
    assert first.goal_id
    assert first.deadline.seconds > time.time()


async def test_the_report_is_unavailable_while_reputation_is_down(
    settings_for: Callable[..., CommunitySettings], unused_tcp_port: int
) -> None:
    settings = settings_for(CommunitySettings, reputation_addr=f"127.0.0.1:{unused_tcp_port}")
    async with running_service(settings, build) as community:
        stub = api_grpc.CommunityServiceStub(community.channel)
        cid = await _pilot_with_goals(stub)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetGoalReport(api.GetGoalReportRequest(community_id=cid), metadata=OWNER)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert error_details(caught.value)[0] == "REPUTATION_UNAVAILABLE"


async def test_the_report_measures_every_goal_including_the_pilots_after_going_live(
    settings_for: Callable[..., CommunitySettings], unused_tcp_port: int
) -> None:
    settings = settings_for(CommunitySettings, reputation_addr=f"127.0.0.1:{unused_tcp_port}")
    async with running_service(settings, build) as community:
        reputation_settings = settings_for(
            ReputationSettings, grpc_port=unused_tcp_port, community_addr=community.address
        )
        async with running_service(reputation_settings, reputation_bootstrap.build):
            stub = api_grpc.CommunityServiceStub(community.channel)
            cid = await _pilot_with_goals(stub)
            await stub.ChangeLifecycle(
                api.ChangeLifecycleRequest(community_id=cid, lifecycle=pb.LIFECYCLE_LIVE), metadata=OWNER
            )
            # Reputation learns the two members from community events; poll until it has.
            deadline = asyncio.get_running_loop().time() + 10
            while True:
                report: api.GetGoalReportResponse = await stub.GetGoalReport(
                    api.GetGoalReportRequest(community_id=cid), metadata=auth("ann")
                )
                if report.goals[0].sample_size == 2 or asyncio.get_running_loop().time() > deadline:
                    break
                await asyncio.sleep(0.2)
            active, median = report.goals
            assert active.goal.set_in_lifecycle == pb.LIFECYCLE_PILOT  # kept after going live
            assert (active.goal.metric, active.goal.target) == (gpb.GOAL_METRIC_WEEKLY_ACTIVE_MEMBERS_PCT, 60)
            # Nobody has been active: 0 % of 2 members, before the deadline.
            assert (active.current_value, active.sample_size, active.status) == (0, 2, gpb.GOAL_STATUS_BEHIND)
            assert active.until.seconds - active.since.seconds == 30 * DAY
            assert abs(active.until.seconds - time.time()) < 60
            # No question answered yet: nothing to measure.
            assert (median.sample_size, median.status) == (0, gpb.GOAL_STATUS_UNKNOWN)

            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.GetGoalReport(api.GetGoalReportRequest(community_id=cid), metadata=auth("zed"))
            assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.memory_too
async def test_a_hidden_communitys_goals_do_not_exist_for_outsiders(stub: Stub) -> None:
    created: api.CreateCommunityResponse = await stub.CreateCommunity(
        api.CreateCommunityRequest(
            name="Board", slug="board", programme="management", region="emea", visibility=pb.VISIBILITY_HIDDEN
        ),
        metadata=OWNER,
    )
    cid = created.community.id
    calls = [
        stub.ListGoals(api.ListGoalsRequest(community_id=cid), metadata=auth("zed")),
        stub.GetGoalReport(api.GetGoalReportRequest(community_id=cid), metadata=auth("zed")),
    ]
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    listed: api.ListGoalsResponse = await stub.ListGoals(
        api.ListGoalsRequest(community_id=cid), metadata=OWNER
    )
    assert list(listed.goals) == []


async def test_a_community_reputation_has_not_heard_of_yet_is_not_measured_rather_than_unavailable(
    settings_for: Callable[..., CommunitySettings], unused_tcp_port: int
) -> None:
    reputation_settings = settings_for(ReputationSettings, grpc_port=unused_tcp_port)
    async with running_service(reputation_settings, reputation_bootstrap.build) as reputation:
        # As community calls it for a member whose token it forwards.
        channel = service_channel(reputation.address, service_token=token_for("ann"))
        try:
            measurer = ReputationGoalMeasurer(channel)
            until = datetime.now(UTC)
            measured = await measurer.measure("never-created", GoalMetric.CONTRIBUTORS_PCT, until)
        finally:
            await channel.close()
    assert (measured.value, measured.sample_size, measured.until) == (0.0, 0, until)
