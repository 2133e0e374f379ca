"""The curator badge, from published collections and their items' ratings."""

from __future__ import annotations

from datetime import datetime

from guild_common.events.inbound import Handler
from guild_common.events.meta import EventMeta
from guild_reputation.app.badges import CURATED_COLLECTION
from guild_reputation.app.ports import BadgeStore, CuratedCollection, Ratings
from guild_reputation.domain.badges import Award, Badge, tiers_reached, well_curated
from guild_reputation.domain.integration_events import CollectionPublished, ItemRated, region_programme


class CuratorRules:
    """The curator badge, from a read model of published collections' items and items' averages.

    A collection is judged when it is published and whenever one of its items is rated; once it
    counts, it is a fact (``curated:<collection>``) that stays, and the curator's tiers follow the
    number of such facts. Facts and awards have natural-key ids: redelivery never counts twice.
    """

    def __init__(self, store: BadgeStore, ratings: Ratings) -> None:
        self._store = store
        self._ratings = ratings

    async def _judge(self, meta: EventMeta, collection: CuratedCollection, time: datetime) -> None:
        averages = await self._ratings.averages(collection.item_ids)
        if not well_curated(collection.item_ids, averages):
            return
        await self._store.add_fact(
            f"curated:{collection.collection_id}",
            community_id=collection.community_id,
            member_id=collection.curator_id,
            kind=CURATED_COLLECTION,
            subject_id=collection.collection_id,
        )
        curated = await self._store.fact_subjects(
            collection.community_id, collection.curator_id, CURATED_COLLECTION
        )
        region, programme = region_programme(meta)
        for tier in tiers_reached(Badge.CURATOR, len(curated)):
            award = Award.of(
                collection.community_id,
                collection.curator_id,
                Badge.CURATOR,
                tier,
                time,
                source_event_id=meta.id,
            )
            await self._store.award(award, region=region, programme=programme)

    async def collection_published(self, e: CollectionPublished) -> None:
        collection = CuratedCollection(e.collection_id, e.community_id, e.curator_id, e.item_post_ids)
        await self._ratings.publish(collection, e.publish_time)
        stored = await self._ratings.collection(e.collection_id)
        if stored is not None:
            await self._judge(e.meta, stored, e.meta.time)

    async def item_rated(self, e: ItemRated) -> None:
        await self._ratings.item_average(e.item_id, e.average, e.count, e.rate_time)
        for collection in await self._ratings.collections_with(e.item_id):
            await self._judge(e.meta, collection, e.meta.time)

    def handlers(self) -> dict[type, Handler]:
        return {CollectionPublished: self.collection_published, ItemRated: self.item_rated}
