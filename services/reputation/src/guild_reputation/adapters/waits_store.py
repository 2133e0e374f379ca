"""When this service first waited for something an event needs (a question's tags), by natural key.

One small document per waiting event, written on the path that waits only and deleted once the event
is handled: a replica that gets the redelivery sees how long the event has waited on any replica.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from guild_common.mongo import Document

WAITS = "event_waits"


class MongoWaits:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._waits = db[WAITS]

    async def first_seen(self, key: str, now: datetime) -> datetime:
        """When the wait for ``key`` began (``now``, the first time): one atomic upsert."""
        doc = await self._waits.find_one_and_update(
            {"_id": key},
            {"$setOnInsert": {"since": now}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert doc is not None  # an upsert returning the document after it
        since: datetime = doc["since"]
        return since if since.tzinfo else since.replace(tzinfo=UTC)

    async def forget(self, key: str) -> None:
        await self._waits.delete_one({"_id": key})
