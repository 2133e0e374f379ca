"""A pilot through to live, over the four services as separate processes on real FerretDB and NATS.

An owner creates a capped pilot community, sets its goals, invites a cohort; the cohort accepts and an
uninvited person is refused; a champion is granted; a survey is drafted, opened, answered and closed and
its results read; the community goes live and anyone may join. Content hears of it all through events:
its read model has the live lifecycle and the champion's role, the champion may use a champions-only
RPC, and a cohort member asks a question in the live community.
"""

from __future__ import annotations

import time
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from pymongo import AsyncMongoClient
from tests.integration.harness import SuiteProcesses

from guild.community.v1 import community_pb2 as cpb
from guild.community.v1 import community_service_pb2 as community_api
from guild.community.v1 import community_service_pb2_grpc as community_grpc
from guild.community.v1 import goal_pb2 as gpb
from guild.community.v1 import survey_pb2 as spb
from guild.content.v1 import content_service_pb2 as content_api
from guild.content.v1 import content_service_pb2_grpc as content_grpc
from guild_testing.fixtures import auth
from guild_testing.polling import eventually

OWNER = auth("olivia")
COHORT = ("ann", "bob", "cat")
CAP = 5


def _code(error: BaseException) -> grpc.StatusCode:
    assert isinstance(error, grpc.aio.AioRpcError)
    return error.code()


async def test_a_pilot_runs_through_to_live(suite: SuiteProcesses) -> None:
    community = community_grpc.CommunityServiceStub(suite.channel("community"))
    content = content_grpc.ContentServiceStub(suite.channel("content"))

    # An owner creates an open community in pilot, capped at five members, and sets its goals.
    created: community_api.CreateCommunityResponse = await community.CreateCommunity(
        community_api.CreateCommunityRequest(
            name="Sales onboarding pilot",
            slug="sales-onboarding-pilot",
            programme="sales",
            region="emea",
            visibility=cpb.VISIBILITY_OPEN,
            lifecycle=cpb.LIFECYCLE_PILOT,
            settings=cpb.CommunitySettings(pilot_cap=CAP),
            request_id="pilot-1",
        ),
        metadata=OWNER,
    )
    cid = created.community.id
    assert created.community.lifecycle == cpb.LIFECYCLE_PILOT
    deadline = Timestamp(seconds=int(time.time()) + 60 * 86400)
    for metric, target in (
        (gpb.GOAL_METRIC_WEEKLY_ACTIVE_MEMBERS_PCT, 60.0),
        (gpb.GOAL_METRIC_QUESTIONS_ANSWERED_WITHIN_24H_PCT, 80.0),
    ):
        await community.CreateGoal(
            community_api.CreateGoalRequest(
                community_id=cid, metric=metric, target=target, deadline=deadline
            ),
            metadata=OWNER,
        )

    # The cohort is invited and accepts; someone uninvited is refused while in pilot.
    for person in COHORT:
        await community.InviteMember(
            community_api.InviteMemberRequest(community_id=cid, member_id=person), metadata=OWNER
        )
    for person in COHORT:
        accepted: community_api.AcceptInvitationResponse = await community.AcceptInvitation(
            community_api.AcceptInvitationRequest(community_id=cid), metadata=auth(person)
        )
        assert accepted.member.role == cpb.ROLE_MEMBER
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await community.JoinCommunity(
            community_api.JoinCommunityRequest(community_id=cid), metadata=auth("zed")
        )
    assert _code(refused.value) == grpc.StatusCode.FAILED_PRECONDITION

    # A champion is granted.
    granted: community_api.GrantRoleResponse = await community.GrantRole(
        community_api.GrantRoleRequest(community_id=cid, member_id="ann", role=cpb.ROLE_CHAMPION),
        metadata=OWNER,
    )
    assert granted.member.role == cpb.ROLE_CHAMPION

    # A survey is drafted, opened, answered by the cohort and closed; the results add up.
    drafted: community_api.CreateSurveyResponse = await community.CreateSurvey(
        community_api.CreateSurveyRequest(
            community_id=cid,
            title="Pilot pulse",
            questions=[
                spb.Question(text="How useful is the community?", type=spb.QUESTION_TYPE_RATING),
                spb.Question(text="Would you recommend it?", type=spb.QUESTION_TYPE_NPS),
            ],
            request_id="pulse-1",
        ),
        metadata=OWNER,
    )
    survey_id = drafted.survey.id
    await community.OpenSurvey(community_api.OpenSurveyRequest(survey_id=survey_id), metadata=OWNER)
    for person, rating, nps in (("ann", 5, 10), ("bob", 4, 9), ("cat", 3, 6)):
        await community.SubmitSurveyResponse(
            community_api.SubmitSurveyResponseRequest(
                survey_id=survey_id,
                answers=[
                    spb.Answer(question_id="q1", score=rating),
                    spb.Answer(question_id="q2", score=nps),
                ],
            ),
            metadata=auth(person),
        )
    closed: community_api.CloseSurveyResponse = await community.CloseSurvey(
        community_api.CloseSurveyRequest(survey_id=survey_id), metadata=OWNER
    )
    assert closed.survey.state == spb.SURVEY_STATE_CLOSED
    assert closed.survey.response_count == len(COHORT)
    results: community_api.GetSurveyResultsResponse = await community.GetSurveyResults(
        community_api.GetSurveyResultsRequest(survey_id=survey_id), metadata=OWNER
    )
    by_question = {r.question_id: r for r in results.results}
    assert by_question["q1"].answer_count == 3
    assert by_question["q1"].average == pytest.approx(4.0)
    # Promoters ann and bob, detractor cat: (2 - 1) / 3.
    assert by_question["q2"].net_promoter_score == pytest.approx(100 / 3, abs=0.01)

    # The community goes live; the pilot's goals stay on record; now anyone may join.
    live: community_api.ChangeLifecycleResponse = await community.ChangeLifecycle(
        community_api.ChangeLifecycleRequest(community_id=cid, lifecycle=cpb.LIFECYCLE_LIVE), metadata=OWNER
    )
    assert live.community.lifecycle == cpb.LIFECYCLE_LIVE
    goals: community_api.ListGoalsResponse = await community.ListGoals(
        community_api.ListGoalsRequest(community_id=cid), metadata=auth("bob")
    )
    assert [(g.target, g.set_in_lifecycle) for g in goals.goals] == [
        (60.0, cpb.LIFECYCLE_PILOT),
        (80.0, cpb.LIFECYCLE_PILOT),
    ]
    joined: community_api.JoinCommunityResponse = await community.JoinCommunity(
        community_api.JoinCommunityRequest(community_id=cid), metadata=auth("zed")
    )
    assert joined.member.member_id == "zed"
    got: community_api.GetCommunityResponse = await community.GetCommunity(
        community_api.GetCommunityRequest(community_id=cid), metadata=OWNER
    )
    assert got.community.member_count == 1 + len(COHORT) + 1

    # Content heard of it through events: the live lifecycle and the champion's role are in its read model.
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(suite.mongo_uri)
    try:
        views = client[suite.database("content")]

        async def content_view() -> tuple[Any, Any]:
            community_view = await views["community_views"].find_one({"_id": cid})
            champion = await views["membership_views"].find_one({"_id": f"{cid}:ann"})
            return (
                community_view.get("lifecycle") if community_view else None,
                champion.get("role") if champion else None,
            )

        await eventually(content_view, lambda seen: seen == ("live", "champion"))
    finally:
        await client.close()

    # The champion may use a champions-only RPC; a cohort member asks a question in the live community.
    await content.ListUnansweredQuestions(
        content_api.ListUnansweredQuestionsRequest(community_id=cid), metadata=auth("ann")
    )
    asked: content_api.AskQuestionResponse = await content.AskQuestion(
        content_api.AskQuestionRequest(
            community_id=cid, title="Which CRM fields matter for a first quote?", tags=["crm"]
        ),
        metadata=auth("bob"),
    )
    assert asked.question.community_id == cid
    assert asked.question.author_id == "bob"
