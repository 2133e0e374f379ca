"""The descriptor-driven checks every request gets: unknown enums, out-of-range times, NUL."""

from __future__ import annotations

import pytest
from google.protobuf import type_pb2
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from guild.community.v1 import community_service_pb2 as community_api
from guild.community.v1 import goal_pb2
from guild.reputation.v1 import reputation_service_pb2 as reputation_api
from guild_common.errors import InvalidArgument
from guild_common.grpc.requests import ID_MAX, check_request


def _violations(message: Message) -> list[tuple[str, str]]:
    with pytest.raises(InvalidArgument) as caught:
        check_request(message)
    return [(v.field, v.description) for v in caught.value.violations]


def test_a_valid_request_passes() -> None:
    metric = goal_pb2.GOAL_METRIC_WEEKLY_ACTIVE_MEMBERS_PCT
    deadline = Timestamp(seconds=1_900_000_000, nanos=5)
    check_request(
        community_api.CreateGoalRequest(community_id="c1", metric=metric, target=50, deadline=deadline)
    )


def test_an_unknown_enum_number_is_named_at_any_depth() -> None:
    request = community_api.CreateGoalRequest(metric=999)  # type: ignore[arg-type]
    assert _violations(request) == [("metric", "unknown GoalMetric value 999")]
    nested = type_pb2.Type(fields=[type_pb2.Field(name="n"), type_pb2.Field(kind=77)])  # type: ignore[arg-type]
    assert _violations(nested) == [("fields[1].kind", "unknown Kind value 77")]


def test_nul_in_strings_is_refused_at_any_depth() -> None:
    message = type_pb2.Type(name="a\x00b", options=[type_pb2.Option(name="\x00")])
    assert [f for f, _ in _violations(message)] == ["name", "options[0].name"]


@pytest.mark.parametrize(
    "stamp",
    [
        Timestamp(seconds=253_402_300_800),
        Timestamp(seconds=-62_135_596_801),
        Timestamp(seconds=0, nanos=-1),
        Timestamp(seconds=0, nanos=1_000_000_000),
    ],
)
def test_a_timestamp_out_of_range_is_refused(stamp: Timestamp) -> None:
    request = reputation_api.GetContributionSummaryRequest(start_time=Timestamp(seconds=0), end_time=stamp)
    assert [f for f, _ in _violations(request)] == ["end_time"]


def test_the_range_ends_are_accepted() -> None:
    check_request(
        reputation_api.GetContributionSummaryRequest(
            start_time=Timestamp(seconds=-62_135_596_800),
            end_time=Timestamp(seconds=253_402_300_799, nanos=999_999_999),
        )
    )


def test_ids_longer_than_the_limit_are_refused_wherever_they_are() -> None:
    long_id = "x" * (ID_MAX + 1)
    request = community_api.EnrolCohortRequest(community_id=long_id, member_ids=["ann", long_id])
    assert _violations(request) == [
        ("community_id", f"at most {ID_MAX} characters"),
        ("member_ids[1]", f"at most {ID_MAX} characters"),
    ]
    # The limit itself passes, and other long strings are left to the services' own limits.
    check_request(community_api.EnrolCohortRequest(community_id="x" * ID_MAX))
    check_request(community_api.CreateCommunityRequest(description="d" * 5000))
