"""Who cares about which tags: members following a tag (content events) and members who declared
expertise in it (community profile events), read models for notifying them of new questions.

Each change carries its time and a stored entry is only replaced by a change at least as recent, so a
redelivered or late event cannot undo a newer one.
"""

from __future__ import annotations

from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase

from guild_common.doclocks import document_lock
from guild_common.mongo import Document, IndexSpec

TAG_FOLLOWS = "tag_follows"
EXPERTISE = "member_expertise"
INDEXES = [
    IndexSpec(TAG_FOLLOWS, [("tag", 1), ("following", 1), ("member_id", 1)]),
    IndexSpec(EXPERTISE, [("tags", 1), ("_id", 1)]),
]
_BATCH = 500


def _newer(doc: Document | None, at: datetime) -> bool:
    return doc is None or doc["time"] <= at


class MongoTagInterests:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._follows = db[TAG_FOLLOWS]
        self._expertise = db[EXPERTISE]

    async def _set_follow(self, member_id: str, tag: str, following: bool, at: datetime) -> None:
        key = f"{tag}:{member_id}"
        async with document_lock(TAG_FOLLOWS, key):
            if _newer(await self._follows.find_one({"_id": key}, {"time": 1}), at):
                await self._follows.replace_one(
                    {"_id": key},
                    {"tag": tag, "member_id": member_id, "following": following, "time": at},
                    upsert=True,
                )

    async def followed(self, member_id: str, tag: str, at: datetime) -> None:
        await self._set_follow(member_id, tag, True, at)

    async def unfollowed(self, member_id: str, tag: str, at: datetime) -> None:
        await self._set_follow(member_id, tag, False, at)

    async def expertise(self, member_id: str, tags: list[str], at: datetime) -> None:
        """Replace the member's declared expertise (the profile event carries the whole list)."""
        async with document_lock(EXPERTISE, member_id):
            if _newer(await self._expertise.find_one({"_id": member_id}, {"time": 1}), at):
                await self._expertise.replace_one({"_id": member_id}, {"tags": tags, "time": at}, upsert=True)

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
