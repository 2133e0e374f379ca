"""Read models of ratings and published collections, kept from content events.

``item_ratings`` holds each rater's current stars per item (``<item>:<rater>``), ``item_averages``
each item's latest average, ``curated_collections`` each published collection's items (a multikey
index finds the collections an item is in). Each document keeps the time of the event it reflects
and is replaced only by a later one, so late or repeated events never move it backwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.mongo import Document, IndexSpec, StoreSchema
from guild_reputation.app.ports import CuratedCollection

ITEM_RATINGS = "item_ratings"
ITEM_AVERAGES = "item_averages"
CURATED_COLLECTIONS = "curated_collections"
INDEXES = [IndexSpec(CURATED_COLLECTIONS, [("item_post_ids", 1)])]
SCHEMA = StoreSchema(indexes=INDEXES)


def _collection(doc: Document) -> CuratedCollection:
    return CuratedCollection(
        collection_id=doc["_id"],
        community_id=doc["community_id"],
        curator_id=doc["curator_id"],
        item_ids=tuple(doc.get("item_post_ids", [])),
    )


class MongoRatings:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._ratings = db[ITEM_RATINGS]
        self._averages = db[ITEM_AVERAGES]
        self._collections = db[CURATED_COLLECTIONS]

    @staticmethod
    async def _put_if_later(
        target: AsyncCollection[Document], _id: str, at: datetime, fields: Document
    ) -> None:
        """Upsert ``fields`` unless the stored document reflects a later (or the same) moment: one
        conditional update, atomic whatever the writers."""
        try:
            await target.update_one(
                {"_id": _id, "time": {"$lt": at}}, {"$set": {**fields, "time": at}}, upsert=True
            )
        except DuplicateKeyError:
            pass  # a later (or the same) state is stored already

    async def rate(self, item_id: str, rater_id: str, stars: int, at: datetime) -> int:
        _id = f"{item_id}:{rater_id}"
        await self._put_if_later(
            self._ratings, _id, at, {"item_id": item_id, "rater_id": rater_id, "stars": stars}
        )
        doc = await self._ratings.find_one({"_id": _id}, {"stars": 1})
        return int(doc["stars"]) if doc else stars

    async def item_average(self, item_id: str, average: float, count: int, at: datetime) -> None:
        await self._put_if_later(self._averages, item_id, at, {"average": float(average), "count": count})

    async def averages(self, item_ids: Sequence[str]) -> dict[str, float]:
        if not item_ids:
            return {}
        docs = self._averages.find({"_id": {"$in": list(item_ids)}}, {"average": 1})
        return {str(doc["_id"]): float(doc["average"]) async for doc in docs}

    async def publish(self, collection: CuratedCollection, at: datetime) -> None:
        await self._put_if_later(
            self._collections,
            collection.collection_id,
            at,
            {
                "community_id": collection.community_id,
                "curator_id": collection.curator_id,
                "item_post_ids": list(collection.item_ids),
            },
        )

    async def collection(self, collection_id: str) -> CuratedCollection | None:
        doc = await self._collections.find_one({"_id": collection_id})
        return None if doc is None else _collection(doc)

    async def collections_with(self, item_id: str) -> list[CuratedCollection]:
        return [_collection(doc) async for doc in self._collections.find({"item_post_ids": item_id})]
