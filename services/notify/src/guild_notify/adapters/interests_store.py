"""Who cares about which tags: members following a tag (content events) and members who declared
expertise in it (community profile events), read models for notifying them of new questions.

Each change carries its time and a stored entry is only replaced by a change at least as recent, so a
redelivered or late event cannot undo a newer one.
"""

from __future__ import annotations

from datetime import datetime

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.mongo import Document, IndexSpec, StoreSchema

TAG_FOLLOWS = "tag_follows"
EXPERTISE = "member_expertise"
SCHEMA = StoreSchema(
    indexes=[
        IndexSpec(TAG_FOLLOWS, [("tag", 1), ("following", 1), ("member_id", 1)]),
        IndexSpec(EXPERTISE, [("tags", 1), ("_id", 1)]),
    ],
)
_BATCH = 500


async def _newer_wins(
    collection: AsyncCollection[Document], doc_id: str, fields: Document, at: datetime
) -> None:
    """Store ``fields`` at time ``at`` unless a newer change is stored: one guarded upsert, where a
    duplicate key means the document exists with a newer ``time`` (so this older change is dropped)."""
    try:
        await collection.update_one(
            {"_id": doc_id, "time": {"$lte": at}}, {"$set": {**fields, "time": at}}, upsert=True
        )
    except DuplicateKeyError:
        pass


class MongoTagInterests:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._follows = db[TAG_FOLLOWS]
        self._expertise = db[EXPERTISE]

    async def _set_follow(self, member_id: str, tag: str, following: bool, at: datetime) -> None:
        fields = {"tag": tag, "member_id": member_id, "following": following}
        await _newer_wins(self._follows, f"{tag}:{member_id}", fields, at)

    async def followed(self, member_id: str, tag: str, at: datetime) -> None:
        await self._set_follow(member_id, tag, True, at)

    async def unfollowed(self, member_id: str, tag: str, at: datetime) -> None:
        await self._set_follow(member_id, tag, False, at)

    async def expertise(self, member_id: str, tags: list[str], at: datetime) -> None:
        """Replace the member's declared expertise (the profile event carries the whole list)."""
        await _newer_wins(self._expertise, member_id, {"tags": tags}, at)

    async def interested(self, tags: list[str]) -> dict[str, list[str]]:
        """Members following or expert in any of ``tags``, each with the tags of theirs among them."""
        found: dict[str, list[str]] = {}
        if not tags:
            return found
        follows = self._follows.find(
            {"tag": {"$in": tags}, "following": True}, {"tag": 1, "member_id": 1}, batch_size=_BATCH
        )
        async for doc in follows:
            found.setdefault(doc["member_id"], []).append(doc["tag"])
        experts = self._expertise.find({"tags": {"$in": tags}}, {"tags": 1}, batch_size=_BATCH)
        async for doc in experts:
            found.setdefault(doc["_id"], []).extend(t for t in doc["tags"] if t in tags)
        return found
