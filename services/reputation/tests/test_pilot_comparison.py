"""A pilot beside its control group, from community and content events, on real FerretDB and NATS."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from services.reputation.tests.support import Producer

from guild.events.v1 import community_events_pb2 as community_events
from guild.events.v1 import content_events_pb2 as events
from guild.reputation.v1 import insights_pb2 as insights_pb
from guild.reputation.v1 import reputation_service_pb2 as api
from guild.reputation.v1 import reputation_service_pb2_grpc as api_grpc
from guild_common.clock import utc_now
from guild_common.settings import ServiceSettings
from guild_reputation.bootstrap import build
from guild_reputation.config import ReputationSettings
from guild_reputation.domain.comparison import newcombe
from guild_testing.fixtures import auth, token_for
from guild_testing.inprocess import running_service

DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)
SERVICE = [("authorization", f"Bearer {token_for('community', scopes=('service',))}")]
PILOT, CONTROL, ELSEWHERE = "pilot-1", "control-1", "elsewhere-1"


def _timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


class Activity:
    """Events dated at moments of the period."""

    def __init__(self, producer: Producer) -> None:
        self._producer = producer
        self._n = 0

    async def emit(self, name: str, message: Message, at: datetime, service: str = "content") -> None:
        await self._producer.emit(name, message, service=service, age=utc_now() - at)

    async def create(self, community_id: str, visibility: str, at: datetime) -> None:
        created = community_events.CommunityCreated(
            community_id=community_id, slug=community_id, name=community_id, visibility=visibility
        )
        await self.emit("community_created", created, at, service="community")

    async def join(self, community_id: str, member: str, at: datetime) -> None:
        joined = community_events.MemberJoined(community_id=community_id, member_id=member, role="member")
        await self.emit("member_joined", joined, at, service="community")

    async def comment(self, community_id: str, member: str, at: datetime) -> None:
        self._n += 1
        comment = events.CommentPosted(
            comment_id=f"m{self._n}", post_id="p", community_id=community_id, author_id=member
        )
        await self.emit("comment_posted", comment, at)

    async def question(
        self, community_id: str, asker: str, answerer: str, at: datetime, wait: timedelta | None
    ) -> None:
        self._n += 1
        question_id = f"q{self._n}"
        asked = events.QuestionAsked(question_id=question_id, community_id=community_id, author_id=asker)
        await self.emit("question_asked", asked, at)
        if wait is not None:
            answer = events.AnswerPosted(
                answer_id=f"a{self._n}",
                question_id=question_id,
                community_id=community_id,
                author_id=answerer,
                question_author_id=asker,
            )
            await self.emit("answer_posted", answer, at + wait)

    async def control(self, version: int, control_community: str = "", members: tuple[str, ...] = ()) -> None:
        control = community_events.PilotControlSet(
            community_id=PILOT,
            control_community_id=control_community,
            control_member_ids=list(members),
            version=version,
        )
        await self.emit("pilot_control_set", control, utc_now(), service="community")


async def _compare(
    stub: api_grpc.ReputationServiceStub,
    request: api.ComparePilotRequest,
    ready: Callable[[insights_pb.PilotComparison], bool],
) -> insights_pb.PilotComparison:
    last: insights_pb.PilotComparison | None = None
    for _ in range(300):
        try:
            response: api.ComparePilotResponse = await stub.ComparePilot(request, metadata=SERVICE)
        except grpc.aio.AioRpcError as error:  # the control or the community not learnt yet
            if error.code() not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION):
                raise
            await asyncio.sleep(0.05)
            continue
        last = response.comparison
        if ready(last):
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"the comparison never settled: {last}")


def _by_metric(c: insights_pb.PilotComparison) -> dict[int, insights_pb.MetricComparison]:
    return {m.metric: m for m in c.metrics}


async def test_a_pilot_beside_a_control_community_and_beside_a_list_of_people(
    settings_for: Callable[..., ServiceSettings], producer: Producer
) -> None:
    back = utc_now() - 10 * DAY
    start = datetime(back.year, back.month, back.day, tzinfo=UTC)
    end = start + 7 * DAY
    request = api.ComparePilotRequest(
        community_id=PILOT, start_time=_timestamp(start), end_time=_timestamp(end)
    )
    a = Activity(producer)
    async with running_service(settings_for(ReputationSettings), build) as service:
        stub = api_grpc.ReputationServiceStub(service.channel)
        await a.create(PILOT, "hidden", start - 30 * DAY)
        await a.create(CONTROL, "open", start - 30 * DAY)
        await a.create(ELSEWHERE, "open", start - 30 * DAY)
        pilot = [f"p{i}" for i in range(20)]
        control = [f"c{i}" for i in range(20)]
        listed = [f"x{i}" for i in range(10)]
        for member in pilot:
            await a.join(PILOT, member, start - 20 * DAY)
        for member in control:
            await a.join(CONTROL, member, start - 20 * DAY)
        for member in listed:
            await a.join(ELSEWHERE, member, start - 20 * DAY)
        # 16 of 20 pilot members active in the period, 4 of 20 in the control community.
        for i, member in enumerate(pilot[:16]):
            await a.comment(PILOT, member, start + DAY + i * MINUTE)
        for i, member in enumerate(control[:4]):
            await a.comment(CONTROL, member, start + DAY + i * MINUTE)
        # Activity outside the period does not count.
        await a.comment(CONTROL, control[10], end + DAY)
        # Pilot: 10 questions, all answered within 1 to 10 minutes. Control: 10, five answered after
        # 10 to 14 hours.
        for i in range(10):
            await a.question(PILOT, pilot[i], pilot[i + 1], start + 2 * DAY + i * MINUTE, (i + 1) * MINUTE)
            wait = timedelta(hours=10 + i) if i < 5 else None
            # Asked and answered by the four active control members only.
            await a.question(
                CONTROL, control[i % 4], control[(i + 1) % 4], start + 2 * DAY + i * MINUTE, wait
            )
        # Listed people: 8 of 10 active elsewhere, each answered after 1 to 8 minutes; x9 is active in the
        # pilot only, which the control leaves out.
        for i, member in enumerate(listed[:8]):
            await a.question(ELSEWHERE, member, "mentor", start + 3 * DAY + i * MINUTE, (i + 1) * MINUTE)
        await a.comment(PILOT, listed[9], start + 3 * DAY)
        await a.control(1, control_community=CONTROL)

        compared = await _compare(
            stub,
            request,
            lambda c: (
                c.control_community_id == CONTROL
                and _by_metric(c)[insights_pb.COMPARISON_METRIC_PARTICIPATION_PCT].pilot_sample_size == 20
                and _by_metric(c)[insights_pb.COMPARISON_METRIC_PARTICIPATION_PCT].control_sample_size == 20
                and _by_metric(c)[insights_pb.COMPARISON_METRIC_QUESTIONS_ANSWERED_PCT].pilot_value == 100
                and _by_metric(c)[insights_pb.COMPARISON_METRIC_QUESTIONS_ANSWERED_PCT].control_sample_size
                == 10
                and _by_metric(c)[insights_pb.COMPARISON_METRIC_PARTICIPATION_PCT].pilot_value == 80
                and _by_metric(c)[insights_pb.COMPARISON_METRIC_PARTICIPATION_PCT].control_value == 20
                and _by_metric(c)[
                    insights_pb.COMPARISON_METRIC_MEDIAN_TIME_TO_FIRST_ANSWER_SECONDS
                ].control_sample_size
                == 5
            ),
        )
        metrics = _by_metric(compared)
        assert (compared.start_time, compared.end_time) == (_timestamp(start), _timestamp(end))
        participation = metrics[insights_pb.COMPARISON_METRIC_PARTICIPATION_PCT]
        assert participation.difference == pytest.approx(60.0)
        expected = newcombe(16, 20, 4, 20)
        assert participation.has_interval
        assert participation.interval_low == pytest.approx(100 * expected.low)
        assert participation.interval_high == pytest.approx(100 * expected.high)
        assert participation.interval_low > 0  # excludes 0
        assert participation.interval_method == "newcombe_hybrid_score"
        answered = metrics[insights_pb.COMPARISON_METRIC_QUESTIONS_ANSWERED_PCT]
        assert (answered.pilot_value, answered.control_value, answered.difference) == (100, 50, 50)
        assert (answered.pilot_sample_size, answered.control_sample_size) == (10, 10)
        assert answered.interval_low > 0
        median = metrics[insights_pb.COMPARISON_METRIC_MEDIAN_TIME_TO_FIRST_ANSWER_SECONDS]
        # Pilot median of 1..10 minutes: 5.5 minutes; control median of 10..14 hours: 12 hours.
        assert median.pilot_value == pytest.approx(330, abs=2)
        assert median.control_value == pytest.approx(12 * 3600, abs=2)
        assert median.difference == pytest.approx(330 - 12 * 3600, abs=4)
        assert median.interval_method == "bootstrap_percentile"
        assert median.interval_low <= median.difference <= median.interval_high < 0
        assert (median.pilot_sample_size, median.control_sample_size) == (10, 5)

        # A member of the hidden pilot reads it (outsiders: see the community service's goal report tests).
        assert (await stub.ComparePilot(request, metadata=auth("p0"))).comparison == compared

        # The control becomes the ten listed people: their activity elsewhere, not in the pilot.
        await a.control(2, members=tuple(listed))
        # An older version arriving late changes nothing.
        await a.control(1, control_community=CONTROL)
        listed_compared = await _compare(
            stub,
            request,
            lambda c: (
                c.control_member_count == 10
                and not c.control_community_id
                and _by_metric(c)[insights_pb.COMPARISON_METRIC_QUESTIONS_ANSWERED_PCT].control_value == 100
                and _by_metric(c)[
                    insights_pb.COMPARISON_METRIC_MEDIAN_TIME_TO_FIRST_ANSWER_SECONDS
                ].control_sample_size
                == 8
            ),
        )
        assert listed_compared.control_member_count == 10
        metrics = _by_metric(listed_compared)
        participation = metrics[insights_pb.COMPARISON_METRIC_PARTICIPATION_PCT]
        assert (participation.pilot_value, participation.control_value) == (80, 80)
        assert participation.control_sample_size == 10
        assert participation.interval_low < 0 < participation.interval_high  # contains 0
        answered = metrics[insights_pb.COMPARISON_METRIC_QUESTIONS_ANSWERED_PCT]
        assert (answered.control_value, answered.control_sample_size) == (100, 8)
        assert answered.interval_low < 0 < answered.interval_high
        median = metrics[insights_pb.COMPARISON_METRIC_MEDIAN_TIME_TO_FIRST_ANSWER_SECONDS]
        assert median.control_value == pytest.approx(270, abs=2)  # 4.5 minutes
        assert median.interval_low < 0 < median.interval_high


async def test_bad_periods_and_a_pilot_without_control(
    settings_for: Callable[..., ServiceSettings], producer: Producer
) -> None:
    now = utc_now()
    a = Activity(producer)
    async with running_service(settings_for(ReputationSettings), build) as service:
        stub = api_grpc.ReputationServiceStub(service.channel)
        for start, end in ((now, now - DAY), (now - 400 * DAY, now)):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.ComparePilot(
                    api.ComparePilotRequest(
                        community_id=PILOT, start_time=_timestamp(start), end_time=_timestamp(end)
                    ),
                    metadata=SERVICE,
                )
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        await a.join("lonely", "ann", now - DAY)
        for _ in range(200):
            try:
                await stub.ComparePilot(api.ComparePilotRequest(community_id="lonely"), metadata=auth("ann"))
            except grpc.aio.AioRpcError as error:
                if error.code() == grpc.StatusCode.FAILED_PRECONDITION:
                    break
                await asyncio.sleep(0.05)
        else:
            raise AssertionError("never answered FAILED_PRECONDITION")
