"""New content of communities (the digests' source) and finished digest runs, in MongoDB."""

from __future__ import annotations

from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.clock import utc_now
from guild_common.mongo import Document, IndexSpec, StoreSchema
from guild_notify.domain.digests import ContentItem, Period

CONTENT = "community_content"
RUNS = "digest_runs"
SCHEMA = StoreSchema(
    indexes=[
        IndexSpec(CONTENT, [("community_id", 1), ("create_time", 1), ("_id", 1)]),
    ],
)


class MongoContentFeed:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._content = db[CONTENT]

    async def record(self, item: ContentItem) -> None:
        try:
            await self._content.insert_one(
                {
                    "_id": item.id,
                    "community_id": item.community_id,
                    "kind": item.kind,
                    "title": item.title,
                    "author_id": item.author_id,
                    "create_time": item.create_time,
                }
            )
        except DuplicateKeyError:
            pass

    async def in_period(
        self, community_ids: list[str], start: datetime, end: datetime, limit: int
    ) -> list[ContentItem]:
        cursor = (
            self._content.find(
                {"community_id": {"$in": community_ids}, "create_time": {"$gte": start, "$lt": end}}
            )
            .sort([("create_time", 1), ("_id", 1)])
            .limit(limit)
        )
        return [
            ContentItem(
                id=d["_id"],
                community_id=d["community_id"],
                kind=d["kind"],
                title=d["title"],
                author_id=d["author_id"],
                create_time=d["create_time"],
            )
            async for d in cursor
        ]


class MongoDigestRuns:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._runs = db[RUNS]

    @staticmethod
    def _key(period: Period) -> str:
        return f"{period.frequency.value}:{period.key}"

    async def done(self, period: Period) -> bool:
        return await self._runs.find_one({"_id": self._key(period)}, {"_id": 1}) is not None

    async def mark_done(self, period: Period, emails: int) -> None:
        try:
            await self._runs.insert_one(
                {"_id": self._key(period), "emails": emails, "finish_time": utc_now()}
            )
        except DuplicateKeyError:
            pass
