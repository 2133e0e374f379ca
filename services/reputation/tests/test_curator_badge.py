"""The curator badge: collections of 5+ items each rated 4+ on average, judged from content events."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp
from services.reputation.tests.support import C1, Producer, badges_of

from guild.events.v1 import content_events_pb2 as events
from guild.events.v1 import reputation_events_pb2 as reputation_events
from guild.reputation.v1 import badge_pb2
from guild.reputation.v1 import reputation_service_pb2_grpc as api_grpc
from guild_common.settings import ServiceSettings
from guild_reputation.bootstrap import build
from guild_reputation.config import ReputationSettings
from guild_reputation.domain.badges import Badge, Tier, tiers_reached, well_curated
from guild_testing.inprocess import running_service

BRONZE, SILVER = badge_pb2.BADGE_TIER_BRONZE, badge_pb2.BADGE_TIER_SILVER
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def test_what_counts_as_well_curated() -> None:
    good = {f"i{n}": 4.0 for n in range(5)}
    assert well_curated(list(good), good)
    assert not well_curated(list(good)[:4], good)  # too few items
    assert not well_curated([*good, "unrated"], good)  # an item nobody rated
    assert not well_curated(list(good), {**good, "i0": 3.99})
    assert not well_curated(["i0", "i0", "i1", "i2", "i3"], good)  # repeated items count once
    assert tiers_reached(Badge.CURATOR, 3) == [Tier.BRONZE, Tier.SILVER]
    assert tiers_reached(Badge.CURATOR, 10)[-1] == Tier.GOLD


class Content:
    """Ratings and publications as the content service emits them."""

    def __init__(self, producer: Producer) -> None:
        self.producer = producer
        self.minute = 0

    def _now(self, minute: int | None = None) -> Timestamp:
        self.minute += 1
        stamp = Timestamp()
        stamp.FromDatetime(T0 + timedelta(minutes=self.minute if minute is None else minute))
        return stamp

    async def rate(self, item: str, average: float, *, minute: int | None = None) -> None:
        await self.producer.emit(
            "item_rated",
            events.ItemRated(
                item_id=item,
                item_kind="resource",
                community_id=C1,
                author_id="writer",
                rater_id=f"rater-{self.minute}",
                stars=4,
                average=average,
                count=2,
                rate_time=self._now(minute),
            ),
        )

    async def publish(self, collection: str, items: Sequence[str]) -> None:
        await self.producer.emit(
            "collection_published",
            events.CollectionPublished(
                collection_id=collection,
                community_id=C1,
                curator_id="cur",
                title=collection,
                item_count=len(items),
                publish_time=self._now(),
                item_post_ids=list(items),
            ),
        )


async def test_collections_of_well_rated_items_earn_the_curator_tiers_once(
    settings_for: Callable[..., ServiceSettings], producer: Producer
) -> None:
    async with running_service(settings_for(ReputationSettings), build) as service:
        stub = api_grpc.ReputationServiceStub(service.channel)
        db = service.app.infra.db
        content = Content(producer)
        # k1: five items, one of them rated 3.5 on average: not yet.
        k1 = [f"a{n}" for n in range(5)]
        await content.publish("k1", k1)
        for item in k1[:4]:
            await content.rate(item, 4.5)
        await content.rate("a4", 3.5)
        # k2: four items all rated 5: too few, ever.
        k2 = [f"b{n}" for n in range(4)]
        for item in k2:
            await content.rate(item, 5.0)
        await content.publish("k2", k2)
        # A late rating of a4 (older than its 3.5) does not count.
        await content.rate("a4", 4.8, minute=0)
        await content.rate("sentinel", 1.0)
        for _ in range(100):  # until every event before the sentinel is handled (in order)
            if await db.item_averages.find_one({"_id": "sentinel"}):
                break
            await asyncio.sleep(0.05)
        a4 = await db.item_averages.find_one({"_id": "a4"})
        assert a4 is not None
        assert a4["average"] == 3.5
        assert await db.badge_awards.count_documents({"badge": "curator"}) == 0
        # a4's average rises to 4.2: k1 counts, bronze.
        await content.rate("a4", 4.2)
        await badges_of(stub, "cur", {("curator", BRONZE)})
        # k3 and k4, published after their items were rated well (sharing a1 with k1), make three: silver.
        k3 = ["a1", "c1", "c2", "c3", "c4"]
        for item in k3[1:]:
            await content.rate(item, 4.0)
        k4 = [f"d{n}" for n in range(6)]
        for item in k4:
            await content.rate(item, 5.0)
        await content.publish("k3", k3)
        published = await producer.emit(
            "collection_published",
            events.CollectionPublished(
                collection_id="k4", community_id=C1, curator_id="cur", item_post_ids=k4
            ),
        )
        await producer.redeliver(published)
        # Rating an item of several qualifying collections again judges them again: no new award.
        await content.rate("a1", 4.9)
        awarded = await badges_of(stub, "cur", {("curator", BRONZE), ("curator", SILVER)})
        assert awarded == {("curator", BRONZE), ("curator", SILVER)}
        await asyncio.sleep(0.3)
        assert await db.badge_awards.count_documents({"badge": "curator"}) == 2
        facts = await db.badge_facts.find({"kind": "curated_collection"}).to_list()
        assert sorted(f["subject_id"] for f in facts) == ["k1", "k3", "k4"]
        # Each award is published as badge_awarded.
        for _ in range(100):
            if await db.badge_awards.count_documents({"outbox_pending": True}) == 0:
                break
            await asyncio.sleep(0.05)
        last = await producer.js.get_last_msg("GUILD_REPUTATION", "guild.emea.sales.reputation.badge_awarded")
        event = reputation_events.BadgeAwarded()
        event.ParseFromString(last.data or b"")
        assert (event.badge, event.tier, event.member_id, event.title) == (
            "curator",
            "silver",
            "cur",
            "Curator (silver)",
        )
