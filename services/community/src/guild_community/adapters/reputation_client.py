"""The reputation service, asked for the current value of a community's goal metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc

from guild.reputation.v1 import insights_pb2 as rpb
from guild.reputation.v1 import reputation_service_pb2 as rapi
from guild.reputation.v1 import reputation_service_pb2_grpc as rapi_grpc
from guild_common.errors import Unavailable
from guild_common.prototime import to_timestamp
from guild_community.domain.goals import GoalMetric, Measurement
from guild_community.domain.pilot import ComparisonMetric, MetricComparison, PilotComparison

# Both services name the metrics alike; the numbers of the two enums are the same.
METRIC_TO_PB: dict[GoalMetric, rpb.GoalMetric.ValueType] = {
    GoalMetric.WEEKLY_ACTIVE_MEMBERS_PCT: rpb.GOAL_METRIC_WEEKLY_ACTIVE_MEMBERS_PCT,
    GoalMetric.QUESTIONS_ANSWERED_WITHIN_24H_PCT: rpb.GOAL_METRIC_QUESTIONS_ANSWERED_WITHIN_24H_PCT,
    GoalMetric.MEDIAN_TIME_TO_FIRST_ANSWER_SECONDS: rpb.GOAL_METRIC_MEDIAN_TIME_TO_FIRST_ANSWER_SECONDS,
    GoalMetric.CONTRIBUTORS_PCT: rpb.GOAL_METRIC_CONTRIBUTORS_PCT,
    GoalMetric.NEW_STARTERS_ASKED_WITHIN_30_DAYS_PCT: rpb.GOAL_METRIC_NEW_STARTERS_ASKED_WITHIN_30_DAYS_PCT,
}
NOT_MEASURED_YET = (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED)
COMPARISON_FROM_PB: dict[int, ComparisonMetric] = {
    rpb.COMPARISON_METRIC_PARTICIPATION_PCT: ComparisonMetric.PARTICIPATION_PCT,
    rpb.COMPARISON_METRIC_QUESTIONS_ANSWERED_PCT: ComparisonMetric.QUESTIONS_ANSWERED_PCT,
    rpb.COMPARISON_METRIC_MEDIAN_TIME_TO_FIRST_ANSWER_SECONDS: (
        ComparisonMetric.MEDIAN_TIME_TO_FIRST_ANSWER_SECONDS
    ),
}
# Reputation has not learnt the control yet (FAILED_PRECONDITION), or the community or the caller's
# membership (NOT_FOUND, PERMISSION_DENIED), or the control community is hidden from the caller (NOT_FOUND).
NOT_COMPARED_YET = (*NOT_MEASURED_YET, grpc.StatusCode.FAILED_PRECONDITION)
TIMEOUT_SECONDS = 5.0
# The window reputation measures a goal over (the 30 days before ``until``).
MEASURED_SPAN = timedelta(days=30)


class ReputationGoalMeasurer:
    """Calls ``ReputationService.GetGoalProgress``, forwarding the caller's token."""

    def __init__(self, channel: grpc.aio.Channel, *, timeout: float = TIMEOUT_SECONDS) -> None:
        self._stub = rapi_grpc.ReputationServiceStub(channel)
        self._timeout = timeout

    async def measure(self, community_id: str, metric: GoalMetric, until: datetime) -> Measurement:
        request = rapi.GetGoalProgressRequest(
            community_id=community_id, metric=METRIC_TO_PB[metric], until=to_timestamp(until)
        )
        try:
            response: rapi.GetGoalProgressResponse = await self._stub.GetGoalProgress(
                request, timeout=self._timeout
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() in NOT_MEASURED_YET:
                # Community has authorised the caller already; reputation has not yet heard of the
                # community or of the caller's membership (its read models follow events). Nothing is
                # measured yet: the goal's status is unknown, the rest of the report stands.
                return Measurement(value=0.0, sample_size=0, since=until - MEASURED_SPAN, until=until)
            raise Unavailable(
                "the reputation service could not measure the goals; try again later",
                reason="REPUTATION_UNAVAILABLE",
                metadata={"reputation_code": exc.code().name},
            ) from exc
        return Measurement(
            value=response.value,
            sample_size=response.sample_size,
            since=response.since.ToDatetime(tzinfo=UTC),
            until=response.until.ToDatetime(tzinfo=UTC),
        )

    async def compare(self, community_id: str, since: datetime, until: datetime) -> PilotComparison | None:
        """``ReputationService.ComparePilot`` over [since, until); None when reputation cannot compare yet."""
        request = rapi.ComparePilotRequest(
            community_id=community_id, start_time=to_timestamp(since), end_time=to_timestamp(until)
        )
        try:
            response: rapi.ComparePilotResponse = await self._stub.ComparePilot(
                request, timeout=self._timeout
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() in NOT_COMPARED_YET:
                return None
            raise Unavailable(
                "the reputation service could not compare the pilot; try again later",
                reason="REPUTATION_UNAVAILABLE",
                metadata={"reputation_code": exc.code().name},
            ) from exc
        c = response.comparison
        return PilotComparison(
            control_community_id=c.control_community_id,
            control_member_count=c.control_member_count,
            since=c.start_time.ToDatetime(tzinfo=UTC),
            until=c.end_time.ToDatetime(tzinfo=UTC),
            metrics=[
                MetricComparison(
                    metric=COMPARISON_FROM_PB[m.metric],
                    pilot_value=m.pilot_value,
                    control_value=m.control_value,
                    difference=m.difference,
                    interval=(m.interval_low, m.interval_high) if m.has_interval else None,
                    pilot_sample_size=m.pilot_sample_size,
                    control_sample_size=m.control_sample_size,
                    interval_method=m.interval_method,
                )
                for m in c.metrics
                if m.metric in COMPARISON_FROM_PB
            ],
        )
