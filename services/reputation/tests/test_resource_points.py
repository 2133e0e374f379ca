"""Points for sharing resources, for resources rated well by others and for answering surveys."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp
from services.reputation.tests.support import C1, C2, Producer, standing_of

from guild.events.v1 import community_events_pb2 as community_events
from guild.events.v1 import content_events_pb2 as events
from guild.reputation.v1 import reputation_service_pb2 as api
from guild.reputation.v1 import reputation_service_pb2_grpc as api_grpc
from guild_common.settings import ServiceSettings
from guild_reputation.bootstrap import build
from guild_reputation.config import ReputationSettings
from guild_reputation.domain.rules import PointsTable, Rule, RuleSetting, rating_earns, validate_overrides
from guild_testing.calendar import clear_of_midnight
from guild_testing.fixtures import auth
from guild_testing.inprocess import running_service

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def _at(minutes: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(T0 + timedelta(minutes=minutes))
    return stamp


def _rated(
    rater: str, stars: int, previous: int, minute: int, *, item: str = "r1", author: str = "ann"
) -> events.ItemRated:
    return events.ItemRated(
        item_id=item,
        item_kind="resource",
        community_id=C1,
        author_id=author,
        rater_id=rater,
        stars=stars,
        previous_stars=previous,
        average=float(stars),
        count=1,
        rate_time=_at(minute),
    )


def _shared(resource: str, author: str = "ann") -> events.ResourceShared:
    return events.ResourceShared(
        resource_id=resource, community_id=C1, author_id=author, url="https://x.test", tags=["Python"]
    )


def test_the_new_rules_have_defaults_and_owners_may_override_them() -> None:
    table = PointsTable().defaults()
    assert (table[Rule.RESOURCE_SHARED], table[Rule.RESOURCE_RATED], table[Rule.SURVEY_ANSWERED]) == (
        RuleSetting(5),
        RuleSetting(3),
        RuleSetting(2),
    )
    assert Rule.RESOURCE_RATED_REVERSED not in table
    overrides = validate_overrides(
        [("resource_shared", 8, 16), ("resource_rated", 1, 0), ("survey_answered", 0, 0)]
    )
    assert overrides["resource_shared"] == RuleSetting(8, 16)
    assert [rating_earns(s) for s in (1, 3, 4, 5)] == [False, False, True, True]


async def test_sharing_earns_once_and_a_moderators_removal_takes_it_back(
    settings_for: Callable[..., ServiceSettings], producer: Producer
) -> None:
    async with running_service(settings_for(ReputationSettings), build) as service:
        stub = api_grpc.ReputationServiceStub(service.channel)
        first = await producer.emit("resource_shared", _shared("r1"))
        await producer.redeliver(first)
        await producer.emit("resource_shared", _shared("r2"))
        await producer.emit("item_rated", _rated("bob", 5, 0, 1))
        await standing_of(stub, "ann", expect=13)
        removed = events.PostRemoved(
            post_id="r1",
            kind="resource",
            community_id=C1,
            author_id="ann",
            removed_by="mod",
            by_moderator=True,
        )
        await producer.emit("post_removed", removed)
        await standing_of(stub, "ann", expect=5)
        # Ratings of the removed resource earn nothing, nor take anything back.
        await producer.emit("item_rated", _rated("cat", 5, 0, 2))
        await producer.emit("item_rated", _rated("bob", 1, 5, 3))
        await producer.emit("resource_shared", _shared("r3"))
        assert (await standing_of(stub, "ann", expect=10)).standing.points == 10
        docs = await service.app.infra.db.ledger.find({"member_id": "ann"}).sort("time", 1).to_list()
        assert [(d["rule"], d["target_id"], d["amount"]) for d in docs] == [
            ("resource_shared", "r1", 5),
            ("resource_shared", "r2", 5),
            ("resource_rated", "r1", 3),
            ("post_removed", "r1", -8),
            ("resource_shared", "r3", 5),
        ]
        assert docs[0]["tags"] == ["python"]


async def test_good_ratings_by_others_earn_once_per_rater_following_the_current_stars(
    settings_for: Callable[..., ServiceSettings], producer: Producer
) -> None:
    async with running_service(settings_for(ReputationSettings), build) as service:
        stub = api_grpc.ReputationServiceStub(service.channel)
        await producer.emit("item_rated", _rated("ann", 5, 0, 0))  # her own resource: nothing
        await producer.emit("item_rated", _rated("cat", 3, 0, 0))  # 3 stars: nothing
        five = await producer.emit("item_rated", _rated("bob", 5, 0, 1))
        await producer.redeliver(five)
        await producer.emit("item_rated", _rated("bob", 4, 5, 2))  # still 4+: nothing more
        await standing_of(stub, "ann", expect=3)
        await producer.emit("item_rated", _rated("bob", 2, 4, 3))  # below 4: taken back
        await standing_of(stub, "ann", expect=0)
        # The same 5-star rating published again, and a late one older than the change: nothing.
        await producer.emit("item_rated", _rated("bob", 5, 0, 1))
        await producer.emit("item_rated", _rated("bob", 4, 0, 2))
        await producer.emit("item_rated", _rated("cat", 4, 3, 4))  # cat raises hers: earns
        await standing_of(stub, "ann", expect=3)
        await producer.emit("item_rated", _rated("bob", 5, 2, 5))  # bob back to 5: earns again
        assert (await standing_of(stub, "ann", expect=6)).standing.points == 6
        docs = await service.app.infra.db.ledger.find({"member_id": "ann"}).sort("time", 1).to_list()
        assert [(d["rule"], d["actor_id"], d["amount"]) for d in docs] == [
            ("resource_rated", "bob", 3),
            ("resource_rated_reversed", "bob", -3),
            ("resource_rated", "cat", 3),
            ("resource_rated", "bob", 3),
        ]


async def test_rating_points_follow_the_daily_cap_and_reversals_take_back_what_was_earned(
    settings_for: Callable[..., ServiceSettings], producer: Producer
) -> None:
    settings = settings_for(ReputationSettings, points_daily_cap={"resource_rated": 4})
    # The cap counts by the UTC day the ratings are published: all of them on one day.
    await clear_of_midnight()
    async with running_service(settings, build) as service:
        stub = api_grpc.ReputationServiceStub(service.channel)
        for rater in ("r-a", "r-b", "r-c"):
            await producer.emit("item_rated", _rated(rater, 5, 0, 1))
        await standing_of(stub, "ann", expect=4)
        for rater in ("r-c", "r-b"):  # c's earned nothing, b's earned 1
            await producer.emit("item_rated", _rated(rater, 1, 5, 2))
        assert (await standing_of(stub, "ann", expect=3)).standing.points == 3
        docs = await service.app.infra.db.ledger.find({"member_id": "ann"}).sort("time", 1).to_list()
        assert [(d["rule"], d["amount"]) for d in docs] == [
            ("resource_rated", 3),
            ("resource_rated", 1),
            ("resource_rated", 0),
            ("resource_rated_reversed", 0),
            ("resource_rated_reversed", -1),
        ]


async def test_answering_a_survey_earns_once_per_survey_and_member(
    settings_for: Callable[..., ServiceSettings], producer: Producer
) -> None:
    async with running_service(settings_for(ReputationSettings), build) as service:
        stub = api_grpc.ReputationServiceStub(service.channel)

        def response(
            survey: str, replaced: bool = False, community: str = C1
        ) -> community_events.SurveyResponseSubmitted:
            return community_events.SurveyResponseSubmitted(
                survey_id=survey, community_id=community, member_id="max", replaced=replaced
            )

        first = await producer.emit("survey_response_submitted", response("s1"), service="community")
        await producer.redeliver(first)
        await producer.emit("survey_response_submitted", response("s1", replaced=True), service="community")
        await producer.emit("survey_response_submitted", response("s2"), service="community")
        await producer.emit("survey_response_submitted", response("s3", community=C2), service="community")
        await standing_of(stub, "max", expect=2, community=C2)
        assert (await standing_of(stub, "max", expect=4)).standing.points == 4
        docs = await service.app.infra.db.ledger.find({"member_id": "max"}).to_list()
        assert sorted((d["rule"], d["target_id"]) for d in docs) == [
            ("survey_answered", "s1"),
            ("survey_answered", "s2"),
            ("survey_answered", "s3"),
        ]
        rules = await stub.GetPointsRules(api.GetPointsRulesRequest(community_id=C1), metadata=auth("x"))
        assert {r.rule: r.points for r in rules.rules}["survey_answered"] == 2
