"""Insights and goal progress kept from community and content events, on real FerretDB and NATS."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from services.reputation.tests.support import C1, C2, Producer

from guild.events.v1 import community_events_pb2 as community_events
from guild.events.v1 import content_events_pb2 as events
from guild.reputation.v1 import insights_pb2 as insights_pb
from guild.reputation.v1 import reputation_service_pb2 as api
from guild.reputation.v1 import reputation_service_pb2_grpc as api_grpc
from guild_common.clock import utc_now
from guild_common.events.envelope import Envelope
from guild_common.settings import ServiceSettings
from guild_reputation.bootstrap import build
from guild_reputation.config import ReputationSettings
from guild_reputation.domain.insights import QuestionFigures, Weeks, median, pct
from guild_testing.fixtures import auth, token_for
from guild_testing.inprocess import running_service

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
SERVICE = [("authorization", f"Bearer {token_for('community', scopes=('service',))}")]


def test_weeks_medians_and_shares() -> None:
    weeks = Weeks("Europe/Paris")
    start, end = weeks.bounds("2026-W48") or (None, None)
    assert start == datetime(2026, 11, 22, 23, tzinfo=UTC)
    assert end == datetime(2026, 11, 29, 23, tzinfo=UTC)
    assert weeks.key(datetime(2026, 11, 29, 23, 30, tzinfo=UTC)) == "2026-W49"
    assert weeks.days_before(end, timedelta(days=7)) == ("2026-11-23", "2026-11-29")
    assert weeks.days_before(end + timedelta(hours=10), timedelta(days=7)) == ("2026-11-24", "2026-11-30")
    assert weeks.bounds("2026-48") is None
    assert weeks.bounds("2026-W60") is None
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0]) == 2.5
    assert median([]) is None
    assert pct(1, 3) == 33.33
    assert pct(1, 0) == 0.0
    figures = QuestionFigures.of([60.0, None, 90_000.0])
    assert (figures.asked, figures.answered, figures.answered_within_24h) == (3, 2, 1)


def _at(moment: datetime) -> timedelta:
    """The age that dates an event at ``moment``."""
    return utc_now() - moment


def _timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


async def _week_of_activity(producer: Producer, anchor: datetime) -> list[Envelope]:
    """A Wednesday in community C1 (and one question in C2) of region emea, programme sales."""
    sent: list[Envelope] = []

    async def community(name: str, message: Message, moment: datetime) -> None:
        sent.append(await producer.emit(name, message, service="community", age=_at(moment)))

    async def content(name: str, message: Message, moment: datetime) -> None:
        sent.append(await producer.emit(name, message, age=_at(moment)))

    def joined(member: str) -> community_events.MemberJoined:
        return community_events.MemberJoined(community_id=C1, member_id=member, role="member")

    await community("member_joined", joined("dan"), anchor - 40 * DAY)
    await community("member_joined", joined("ann"), anchor - 5 * DAY)
    await community("member_joined", joined("bob"), anchor - 5 * DAY)
    await community("member_joined", joined("cat"), anchor - 3 * DAY)
    await community("member_joined", joined("eve"), anchor - 2 * DAY)
    await community(
        "member_left", community_events.MemberLeft(community_id=C1, member_id="cat"), anchor + DAY
    )

    def asked(question: str, author: str, community_id: str = C1) -> events.QuestionAsked:
        return events.QuestionAsked(question_id=question, community_id=community_id, author_id=author)

    def answer(answer_id: str, question: str, author: str, asker: str, c: str = C1) -> events.AnswerPosted:
        return events.AnswerPosted(
            answer_id=answer_id,
            question_id=question,
            community_id=c,
            author_id=author,
            question_author_id=asker,
        )

    # q1 answered in an hour, q2 in 30 hours, q3 only by its asker.
    await content("question_asked", asked("q1", "ann"), anchor + HOUR)
    await content("answer_posted", answer("a1", "q1", "bob", "ann"), anchor + 2 * HOUR)
    await content("question_asked", asked("q2", "ann"), anchor + 3 * HOUR)
    await content("answer_posted", answer("a2", "q2", "dan", "ann"), anchor + 33 * HOUR)
    await content("question_asked", asked("q3", "bob"), anchor + 4 * HOUR)
    await content("answer_posted", answer("a3", "q3", "bob", "bob"), anchor + 5 * HOUR)
    await content(
        "comment_posted",
        events.CommentPosted(comment_id="m1", post_id="q1", community_id=C1, author_id="dan"),
        anchor + 6 * HOUR,
    )
    await content(
        "resource_shared",
        events.ResourceShared(resource_id="r1", community_id=C1, author_id="ann"),
        anchor + 7 * HOUR,
    )
    await content(
        "vote_changed",
        events.VoteChanged(
            target_kind="answer",
            target_id="a1",
            community_id=C1,
            voter_id="eve",
            target_author_id="bob",
            value=1,
        ),
        anchor + 8 * HOUR,
    )
    # Another community of the same programme and region.
    await content("question_asked", asked("q9", "fay", C2), anchor + HOUR)
    await content("answer_posted", answer("a9", "q9", "ann", "fay", C2), anchor + 2 * HOUR)
    return sent


async def _insights(
    stub: api_grpc.ReputationServiceStub,
    request: api.GetInsightsRequest,
    ready: Callable[[insights_pb.Insights], bool],
) -> insights_pb.Insights:
    for _ in range(200):
        try:
            response = await stub.GetInsights(request, metadata=SERVICE)
        except grpc.aio.AioRpcError as error:  # no event about the community handled yet
            if error.code() != grpc.StatusCode.NOT_FOUND:
                raise
            await asyncio.sleep(0.05)
            continue
        insights: insights_pb.Insights = response.insights
        if ready(insights):
            return insights
        await asyncio.sleep(0.05)
    raise AssertionError(f"insights never settled for {request}")


async def test_weekly_insights_and_goal_progress_from_events(
    settings_for: Callable[..., ServiceSettings], producer: Producer
) -> None:
    # A Wednesday ten days back or more: the week is over, whatever day the test runs.
    back = utc_now() - 10 * DAY
    anchor = datetime(back.year, back.month, back.day, tzinfo=UTC) - back.weekday() * DAY + 2 * DAY
    week = Weeks().key(anchor)
    async with running_service(settings_for(ReputationSettings), build) as service:
        stub = api_grpc.ReputationServiceStub(service.channel)
        sent = await _week_of_activity(producer, anchor)

        c1 = await _insights(
            stub,
            api.GetInsightsRequest(community_id=C1, week=week),
            lambda i: (
                i.members == 4
                and i.posts.answers == 3
                and i.questions_answered == 2
                and i.active_members_7_days == 4
            ),
        )
        # Every event delivered again, then one more question in C2: nothing counts twice.
        for envelope in sent:
            await producer.redeliver(envelope)
        await producer.emit(
            "question_asked",
            events.QuestionAsked(question_id="q10", community_id=C2, author_id="fay"),
            age=_at(anchor + 9 * HOUR),
        )
        programme = await _insights(
            stub, api.GetInsightsRequest(programme="sales", week=week), lambda i: i.questions_asked == 5
        )
        assert await stub.GetInsights(
            api.GetInsightsRequest(community_id=C1, week=week), metadata=auth("ann")
        ) == (api.GetInsightsResponse(insights=c1))
        assert c1.community_id == C1
        assert c1.as_of.ToDatetime(tzinfo=UTC) == anchor + 5 * DAY  # the week is over: taken at its end
        assert (c1.active_members_7_days, c1.active_members_30_days) == (4, 4)  # eve voted; cat left
        assert (c1.contributors, c1.contributors_pct) == (3, 75.0)
        # ann: q1, q2, r1; bob: a1, q3, a3; dan: a2, m1.
        assert [(c.member_id, c.posts) for c in c1.top_contributors] == [("ann", 3), ("bob", 3), ("dan", 2)]
        assert (c1.posts.questions, c1.posts.answers, c1.posts.comments, c1.posts.resources) == (3, 3, 1, 1)
        assert (c1.questions_asked, c1.questions_answered, c1.questions_answered_pct) == (3, 2, 66.67)
        # Event times are dated by age at publication: to the second.
        median_wait = c1.median_time_to_first_answer.ToTimedelta().total_seconds()
        assert median_wait == pytest.approx((3600 + 30 * 3600) / 2, abs=1)
        assert c1.answered_within_24h_pct == 33.33
        # ann, bob and eve joined in the 30 days before; dan earlier; cat left.
        assert (c1.new_starters, c1.new_starters_posted, c1.new_starters_posted_pct) == (3, 2, 66.67)

        assert programme.programme == "sales"
        assert (programme.members, programme.questions_answered, programme.posts.answers) == (4, 3, 4)
        assert programme.contributors == 4  # fay too
        region = (
            await stub.GetInsights(api.GetInsightsRequest(region="emea", week=week), metadata=auth("x"))
        ).insights
        assert region.region == "emea"
        assert (region.questions_asked, region.members, region.contributors) == (5, 4, 4)
        # This week, so far: a vote a moment ago counts today; the week above within 30 days.
        await producer.emit(
            "vote_changed",
            events.VoteChanged(
                target_kind="answer",
                target_id="a2",
                community_id=C1,
                voter_id="bob",
                target_author_id="dan",
                value=1,
            ),
        )
        asked = utc_now()
        now = await _insights(
            stub, api.GetInsightsRequest(community_id=C1), lambda i: i.active_members_7_days == 1
        )
        # The week of the server's clock when it answered (it may turn before the test reads the clock).
        as_of = now.as_of.ToDatetime(tzinfo=UTC)
        assert asked <= as_of <= utc_now()
        assert (now.week, now.active_members_30_days, now.members) == (Weeks().key(as_of), 4, 4)
        empty = await stub.GetInsights(api.GetInsightsRequest(region="apac", week=week), metadata=auth("x"))
        assert (empty.insights.members, empty.insights.questions_asked) == (0, 0)
        assert not empty.insights.HasField("median_time_to_first_answer")

        # Goal progress, asked by the community service over the week's span.
        since, until = anchor - 10 * DAY, anchor + 5 * DAY

        async def goal(metric: insights_pb.GoalMetric.ValueType) -> api.GetGoalProgressResponse:
            request = api.GetGoalProgressRequest(
                community_id=C1, metric=metric, since=_timestamp(since), until=_timestamp(until)
            )
            response: api.GetGoalProgressResponse = await stub.GetGoalProgress(request, metadata=SERVICE)
            return response

        soon = await goal(insights_pb.GOAL_METRIC_QUESTIONS_ANSWERED_WITHIN_24H_PCT)
        assert (soon.value, soon.sample_size) == (33.33, 3)
        median_goal = await goal(insights_pb.GOAL_METRIC_MEDIAN_TIME_TO_FIRST_ANSWER_SECONDS)
        assert median_goal.value == pytest.approx(55_800, abs=1)
        assert median_goal.sample_size == 2
        contributors = await goal(insights_pb.GOAL_METRIC_CONTRIBUTORS_PCT)
        assert (contributors.value, contributors.sample_size) == (75.0, 4)
        weekly = await goal(insights_pb.GOAL_METRIC_WEEKLY_ACTIVE_MEMBERS_PCT)
        assert (weekly.value, weekly.sample_size) == (100.0, 4)
        starters = await goal(insights_pb.GOAL_METRIC_NEW_STARTERS_ASKED_WITHIN_30_DAYS_PCT)
        assert (starters.value, starters.sample_size) == (66.67, 3)  # ann and bob asked; eve did not
        assert starters.metric == insights_pb.GOAL_METRIC_NEW_STARTERS_ASKED_WITHIN_30_DAYS_PCT

        # A member may ask too; a former member may not; bad requests name their fields.
        await stub.GetGoalProgress(
            api.GetGoalProgressRequest(community_id=C1, metric=insights_pb.GOAL_METRIC_CONTRIBUTORS_PCT),
            metadata=auth("dan"),
        )
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await stub.GetInsights(api.GetInsightsRequest(community_id=C1, week=week), metadata=auth("cat"))
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await stub.GetInsights(api.GetInsightsRequest(community_id=C1, week="W48"), metadata=auth("ann"))
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.aio.AioRpcError) as no_metric:
            await stub.GetGoalProgress(api.GetGoalProgressRequest(community_id=C1), metadata=SERVICE)
        assert no_metric.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await stub.GetGoalProgress(
                api.GetGoalProgressRequest(
                    community_id="c-none", metric=insights_pb.GOAL_METRIC_CONTRIBUTORS_PCT
                ),
                metadata=SERVICE,
            )
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
