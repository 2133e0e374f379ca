"""Community goals over gRPC: owners set them, members list them, a pilot's goals outlive the pilot."""

from __future__ import annotations

import time

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from guild.community.v1 import community_pb2 as pb
from guild.community.v1 import community_service_pb2 as api
from guild.community.v1 import community_service_pb2_grpc as api_grpc
from guild.community.v1 import goal_pb2 as gpb
from guild_community.domain.authorization import ENROL_SCOPE
from guild_testing.fixtures import auth
from guild_testing.status import field_violations

Stub = api_grpc.CommunityServiceStub
# The owner also holds the scope for enrolling people without asking them (EnrolCohort).
OWNER = auth("olivia", ENROL_SCOPE)
DAY = 86400


def _in(seconds: int) -> Timestamp:
    return Timestamp(seconds=int(time.time()) + seconds)


async def _pilot(stub: Stub) -> str:
    created: api.CreateCommunityResponse = await stub.CreateCommunity(
        api.CreateCommunityRequest(
            name="Sales pilot",
            slug="sales-pilot",
            programme="sales",
            region="amer",
            visibility=pb.VISIBILITY_OPEN,
            lifecycle=pb.LIFECYCLE_PILOT,
        ),
        metadata=OWNER,
    )
    cid = created.community.id
    await stub.EnrolCohort(api.EnrolCohortRequest(community_id=cid, member_ids=["ann"]), metadata=OWNER)
    return cid


async def _goal(
    stub: Stub, cid: str, metric: gpb.GoalMetric.ValueType, target: float, request_id: str = ""
) -> gpb.Goal:
    response: api.CreateGoalResponse = await stub.CreateGoal(
        api.CreateGoalRequest(
            community_id=cid, metric=metric, target=target, deadline=_in(30 * DAY), request_id=request_id
        ),
        metadata=OWNER,
    )
    return response.goal


@pytest.mark.memory_too
async def test_a_pilots_goals_stay_on_record_after_it_goes_live(stub: Stub) -> None:
    cid = await _pilot(stub)
    first = await _goal(stub, cid, gpb.GOAL_METRIC_WEEKLY_ACTIVE_MEMBERS_PCT, 60, request_id="wam")
    assert first.set_in_lifecycle == pb.LIFECYCLE_PILOT
    assert first.created_by == "olivia"
    assert first.target == 60
    again = await _goal(stub, cid, gpb.GOAL_METRIC_WEEKLY_ACTIVE_MEMBERS_PCT, 60, request_id="wam")
    assert again.id == first.id  # a retried create returns the first goal
    await _goal(stub, cid, gpb.GOAL_METRIC_MEDIAN_TIME_TO_FIRST_ANSWER_SECONDS, 3600)

    await stub.ChangeLifecycle(
        api.ChangeLifecycleRequest(community_id=cid, lifecycle=pb.LIFECYCLE_LIVE), metadata=OWNER
    )
    await _goal(stub, cid, gpb.GOAL_METRIC_CONTRIBUTORS_PCT, 25)

    listed: api.ListGoalsResponse = await stub.ListGoals(
        api.ListGoalsRequest(community_id=cid), metadata=auth("ann")
    )
    assert [(g.metric, g.target, g.set_in_lifecycle) for g in listed.goals] == [
        (gpb.GOAL_METRIC_WEEKLY_ACTIVE_MEMBERS_PCT, 60, pb.LIFECYCLE_PILOT),
        (gpb.GOAL_METRIC_MEDIAN_TIME_TO_FIRST_ANSWER_SECONDS, 3600, pb.LIFECYCLE_PILOT),
        (gpb.GOAL_METRIC_CONTRIBUTORS_PCT, 25, pb.LIFECYCLE_LIVE),
    ]
    assert listed.goals[0].deadline.seconds == first.deadline.seconds

    page: api.ListGoalsResponse = await stub.ListGoals(
        api.ListGoalsRequest(community_id=cid, page_size=2), metadata=OWNER
    )
    assert len(page.goals) == 2
    assert page.next_page_token
    rest: api.ListGoalsResponse = await stub.ListGoals(
        api.ListGoalsRequest(community_id=cid, page_size=2, page_token=page.next_page_token), metadata=OWNER
    )
    assert [g.metric for g in rest.goals] == [gpb.GOAL_METRIC_CONTRIBUTORS_PCT]
    assert rest.next_page_token == ""


@pytest.mark.memory_too
async def test_bad_goals_are_refused_field_by_field(stub: Stub) -> None:
    cid = await _pilot(stub)
    cases = [
        (api.CreateGoalRequest(community_id=cid, target=50, deadline=_in(DAY)), "metric"),
        (
            api.CreateGoalRequest(
                community_id=cid, metric=gpb.GOAL_METRIC_CONTRIBUTORS_PCT, target=120, deadline=_in(DAY)
            ),
            "target",
        ),
        (
            api.CreateGoalRequest(
                community_id=cid,
                metric=gpb.GOAL_METRIC_MEDIAN_TIME_TO_FIRST_ANSWER_SECONDS,
                target=-5,
                deadline=_in(DAY),
            ),
            "target",
        ),
        (
            api.CreateGoalRequest(
                community_id=cid, metric=gpb.GOAL_METRIC_CONTRIBUTORS_PCT, target=20, deadline=_in(-DAY)
            ),
            "deadline",
        ),
        (
            api.CreateGoalRequest(community_id=cid, metric=gpb.GOAL_METRIC_CONTRIBUTORS_PCT, target=20),
            "deadline",
        ),
    ]
    for request, field in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CreateGoal(request, metadata=OWNER)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, field
        assert list(field_violations(caught.value)) == [field]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ListGoals(api.ListGoalsRequest(community_id="nope"), metadata=OWNER)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    listed: api.ListGoalsResponse = await stub.ListGoals(
        api.ListGoalsRequest(community_id=cid), metadata=OWNER
    )
    assert list(listed.goals) == []


@pytest.mark.memory_too
async def test_an_archived_community_keeps_its_goals_but_takes_no_new_ones(stub: Stub) -> None:
    cid = await _pilot(stub)
    await _goal(stub, cid, gpb.GOAL_METRIC_NEW_STARTERS_ASKED_WITHIN_30_DAYS_PCT, 40)
    for lifecycle in (pb.LIFECYCLE_LIVE, pb.LIFECYCLE_ARCHIVED):
        await stub.ChangeLifecycle(
            api.ChangeLifecycleRequest(community_id=cid, lifecycle=lifecycle), metadata=OWNER
        )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _goal(stub, cid, gpb.GOAL_METRIC_CONTRIBUTORS_PCT, 25)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    listed: api.ListGoalsResponse = await stub.ListGoals(
        api.ListGoalsRequest(community_id=cid), metadata=OWNER
    )
    assert [g.set_in_lifecycle for g in listed.goals] == [pb.LIFECYCLE_PILOT]
