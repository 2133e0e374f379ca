"""The inbox's counters, each one atomic update of a small document addressed by ``_id``.

``inbox_counters`` holds one document per recipient: ``seq`` (the last sequence handed out) and
``unread``. ``notification_groups`` holds one summary per recipient, type and subject with its
``total_count`` and ``unread_count``, and the fields of its notification with the highest sequence.
Nothing here reads a notification: counts change by ``$inc`` as notifications are numbered or read.
"""

from __future__ import annotations

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.mongo import Document
from guild_notify.domain.notifications import Notification

COUNTERS = "inbox_counters"
GROUPS = "notification_groups"
_ATTEMPTS = 16


class InboxCounters:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._counters: AsyncCollection[Document] = db[COUNTERS]
        self._groups: AsyncCollection[Document] = db[GROUPS]

    async def take_sequence(self, recipient_id: str, *, unread: bool) -> int:
        """The recipient's next sequence; counts one more unread at the same time when ``unread``.

        (No projection: the embedded store does not implement one in ``findAndModify``.)"""
        inc = {"seq": 1, "unread": 1 if unread else 0}
        for _ in range(2):  # two first upserts of one recipient may clash once; the loser then updates
            try:
                doc = await self._counters.find_one_and_update(
                    {"_id": recipient_id},
                    {"$inc": inc},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError:
                continue
            assert doc is not None
            return int(doc["seq"])
        raise RuntimeError(f"no sequence for {recipient_id[:64]}")

    async def seed(self, recipient_id: str, *, sequence: int, unread: int) -> None:
        """Counters of notifications stored before they existed: ``seq`` at least ``sequence``."""
        await self._counters.update_one(
            {"_id": recipient_id},
            {"$max": {"seq": sequence}, "$inc": {"unread": unread}},
            upsert=True,
        )

    async def add_unread(self, recipient_id: str, delta: int) -> None:
        if delta:
            await self._counters.update_one({"_id": recipient_id}, {"$inc": {"unread": delta}})

    async def unread(self, recipient_id: str) -> int:
        doc = await self._counters.find_one({"_id": recipient_id}, {"unread": 1})
        return max(0, int(doc.get("unread", 0))) if doc is not None else 0

    async def group_added(self, n: Notification) -> None:
        """Count the numbered notification ``n`` in its group; it becomes the group's latest unless a
        higher sequence is there already."""
        inc = {"total_count": 1, "unread_count": 0 if n.read else 1}
        latest: Document = {
            "recipient_id": n.recipient_id,
            "type": n.type.value,
            "community_id": n.community_id,
            "subject_id": n.subject_id,
            "subject_title": n.subject_title,
            "latest_actor_id": n.actor_id,
            "latest_text": n.text,
            "update_time": n.create_time,
            "latest_sequence": n.sequence,
        }
        key = n.group_key
        for _ in range(_ATTEMPTS):
            newer = await self._groups.update_one(
                {"_id": key, "latest_sequence": {"$lt": n.sequence}}, {"$inc": inc, "$set": latest}
            )
            if newer.matched_count:
                return
            try:  # an older notification than the group's latest, or the group's first
                await self._groups.update_one(
                    {"_id": key, "latest_sequence": {"$gte": n.sequence}},
                    {"$inc": inc, "$setOnInsert": latest},
                    upsert=True,
                )
            except DuplicateKeyError:
                continue  # the group exists with an older latest (created meanwhile): take its place
            return
        raise RuntimeError(f"group {key[:64]} changed on each of {_ATTEMPTS} attempts")

    async def group_removed(self, n: Notification) -> None:
        """Undo :meth:`group_added` for a notification counted twice by a lost race."""
        await self._groups.update_one(
            {"_id": n.group_key}, {"$inc": {"total_count": -1, "unread_count": 0 if n.read else -1}}
        )

    async def group_read(self, key: str, count: int) -> None:
        if count:
            await self._groups.update_one({"_id": key}, {"$inc": {"unread_count": -count}})
