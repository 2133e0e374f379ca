"""Notifications in MongoDB, one document each, keyed by (event, recipient, type).

Each notification gets the recipient's next ``sequence`` when it is inserted. Allocation is insert-only:
the next number is read from the index and claimed by inserting under the unique
``(recipient_id, sequence)`` index, inside a per-recipient lock so this process never races itself; a
clash with another writer just takes the next number. Group summaries (one document per recipient, type
and subject) are recomputed from the notifications, so redelivery and concurrent reads converge.
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.doclocks import document_lock
from guild_common.keyset import keyset_page
from guild_common.mongo import Document, IndexSpec
from guild_notify.app.ports import Position
from guild_notify.domain.model import Notification, NotificationGroup, NotificationType

NOTIFICATIONS = "notifications"
GROUPS = "notification_groups"
_SEQUENCE_LOCK = "notification_sequences"
INDEXES = [
    IndexSpec(NOTIFICATIONS, [("recipient_id", 1), ("create_time", -1), ("_id", -1)]),
    IndexSpec(NOTIFICATIONS, [("recipient_id", 1), ("read", 1), ("create_time", -1), ("_id", -1)]),
    IndexSpec(NOTIFICATIONS, [("recipient_id", 1), ("group_key", 1), ("sequence", -1)]),
    IndexSpec(GROUPS, [("recipient_id", 1), ("latest_sequence", -1), ("_id", -1)]),
]
# Created after :meth:`MongoInbox.backfill_sequences`, which numbers notifications stored before sequences.
SEQUENCE_INDEXES = [IndexSpec(NOTIFICATIONS, [("recipient_id", 1), ("sequence", 1)], unique=True)]
_ALLOCATION_ATTEMPTS = 20


def _notification(doc: Document) -> Notification:
    return Notification(
        id=doc["_id"],
        recipient_id=doc["recipient_id"],
        type=NotificationType(doc["type"]),
        community_id=doc["community_id"],
        subject_id=doc["subject_id"],
        actor_id=doc["actor_id"],
        text=doc["text"],
        create_time=doc["create_time"],
        read=doc["read"],
        subject_title=doc.get("subject_title", ""),
        sequence=doc.get("sequence", 0),
    )


def _group(doc: Document) -> NotificationGroup:
    return NotificationGroup(
        key=doc["_id"],
        recipient_id=doc["recipient_id"],
        type=NotificationType(doc["type"]),
        community_id=doc["community_id"],
        subject_id=doc["subject_id"],
        subject_title=doc.get("subject_title", ""),
        unread_count=doc["unread_count"],
        total_count=doc["total_count"],
        latest_actor_id=doc["latest_actor_id"],
        latest_text=doc["latest_text"],
        update_time=doc["update_time"],
    )


class MongoInbox:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._notifications = db[NOTIFICATIONS]
        self._groups = db[GROUPS]

    async def backfill_sequences(self) -> int:
        """Number notifications stored before sequences existed, per recipient in creation order."""
        legacy = self._notifications.find({"sequence": {"$exists": False}}).sort(
            [("recipient_id", 1), ("create_time", 1), ("_id", 1)]
        )
        touched: set[tuple[str, str]] = set()
        count = 0
        async for doc in legacy:
            n = _notification(doc)
            async with document_lock(_SEQUENCE_LOCK, n.recipient_id):
                sequence = await self.last_sequence(n.recipient_id) + 1
                await self._notifications.update_one(
                    {"_id": n.id}, {"$set": {"sequence": sequence, "group_key": n.group_key}}
                )
            touched.add((n.recipient_id, n.group_key))
            count += 1
        for recipient_id, key in touched:
            await self._refresh_group(recipient_id, key)
        return count

    async def add(self, n: Notification) -> Notification | None:
        stored = await self._insert(n)
        # Also after a duplicate: a crash between the insert and the summary is repaired on redelivery.
        await self._refresh_group(n.recipient_id, n.group_key)
        return stored

    async def _insert(self, n: Notification) -> Notification | None:
        async with document_lock(_SEQUENCE_LOCK, n.recipient_id):
            if await self._notifications.find_one({"_id": n.id}, {"_id": 1}) is not None:
                return None
            for _ in range(_ALLOCATION_ATTEMPTS):
                stored = n.with_sequence(await self.last_sequence(n.recipient_id) + 1)
                try:
                    await self._notifications.insert_one(self._document(stored))
                except DuplicateKeyError:
                    if await self._notifications.find_one({"_id": n.id}, {"_id": 1}) is not None:
                        return None
                    continue  # another process took this sequence: take the next one
                return stored
        raise RuntimeError(f"no free sequence for {n.recipient_id} after {_ALLOCATION_ATTEMPTS} attempts")

    @staticmethod
    def _document(n: Notification) -> Document:
        return {
            "_id": n.id,
            "recipient_id": n.recipient_id,
            "type": n.type.value,
            "community_id": n.community_id,
            "subject_id": n.subject_id,
            "subject_title": n.subject_title,
            "actor_id": n.actor_id,
            "text": n.text,
            "create_time": n.create_time,
            "read": n.read,
            "sequence": n.sequence,
            "group_key": n.group_key,
        }

    async def _refresh_group(self, recipient_id: str, key: str) -> None:
        async with document_lock(GROUPS, key):
            members = {"recipient_id": recipient_id, "group_key": key}
            latest = await self._notifications.find_one(members, sort=[("sequence", -1)])
            if latest is None:
                return
            total = await self._notifications.count_documents(members)
            unread = await self._notifications.count_documents({**members, "read": False})
            await self._groups.replace_one(
                {"_id": key},
                {
                    "recipient_id": recipient_id,
                    "type": latest["type"],
                    "community_id": latest["community_id"],
                    "subject_id": latest["subject_id"],
                    "subject_title": latest.get("subject_title", ""),
                    "unread_count": unread,
                    "total_count": total,
                    "latest_actor_id": latest["actor_id"],
                    "latest_text": latest["text"],
                    "update_time": latest["create_time"],
                    "latest_sequence": latest["sequence"],
                },
                upsert=True,
            )

    async def last_sequence(self, recipient_id: str) -> int:
        last = await self._notifications.find_one(
            {"recipient_id": recipient_id}, {"sequence": 1}, sort=[("sequence", -1)]
        )
        return int(last.get("sequence", 0)) if last is not None else 0

    async def after(self, recipient_id: str, sequence: int, limit: int) -> list[Notification]:
        cursor = (
            self._notifications.find({"recipient_id": recipient_id, "sequence": {"$gt": sequence}})
            .sort([("sequence", 1)])
            .limit(limit)
        )
        return [_notification(d) async for d in cursor]

    async def page_after(
        self, recipient_id: str, unread_only: bool, limit: int, position: Position | None
    ) -> list[Notification]:
        query: dict[str, Any] = {"recipient_id": recipient_id}
        if unread_only:
            query["read"] = False
        if position is not None:
            at, last_id = position
            query["$or"] = [{"create_time": {"$lt": at}}, {"create_time": at, "_id": {"$lt": last_id}}]
        cursor = self._notifications.find(query).sort([("create_time", -1), ("_id", -1)]).limit(limit)
        return [_notification(d) async for d in cursor]

    async def unread_count(self, recipient_id: str) -> int:
        return await self._notifications.count_documents({"recipient_id": recipient_id, "read": False})

    async def owned(self, recipient_id: str, ids: list[str]) -> set[str]:
        cursor = self._notifications.find({"_id": {"$in": ids}, "recipient_id": recipient_id}, {"_id": 1})
        return {d["_id"] async for d in cursor}

    async def mark_read(self, recipient_id: str, ids: list[str]) -> int:
        query = {"_id": {"$in": ids}, "recipient_id": recipient_id, "read": False}
        keys = await self._notifications.distinct("group_key", query)
        result = await self._notifications.update_many(query, {"$set": {"read": True}})
        for key in keys:
            await self._refresh_group(recipient_id, key)
        return result.modified_count

    async def mark_all_read(self, recipient_id: str) -> int:
        query = {"recipient_id": recipient_id, "read": False}
        keys = await self._notifications.distinct("group_key", query)
        result = await self._notifications.update_many(query, {"$set": {"read": True}})
        for key in keys:
            await self._refresh_group(recipient_id, key)
        return result.modified_count

    async def groups(
        self, recipient_id: str, unread_only: bool, page_size: int, page_token: str
    ) -> tuple[list[NotificationGroup], str]:
        query: dict[str, Any] = {"recipient_id": recipient_id}
        if unread_only:
            query["unread_count"] = {"$gt": 0}
        docs, next_token = await keyset_page(
            self._groups,
            query,
            sort_field="latest_sequence",
            descending=True,
            page_size=page_size,
            page_token=page_token,
        )
        return [_group(d) for d in docs], next_token
