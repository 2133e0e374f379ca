"""Notifications in MongoDB, one document each, keyed by (event, recipient, type).

Storing one is idempotent by that natural ``_id``: the insert decides who stores it, and a duplicate
(a redelivered event, a concurrent copy) does nothing else. The inserter then numbers it: it takes the
recipient's next ``sequence`` from an atomic counter (counting one more unread in the same update),
counts it in its group, and finally sets ``counted`` with the sequence, guarded by ``counted: false``.
Until then the notification is invisible (lists, streams, marking read), so whatever reads it finds
the counters including it. Reading changes each notification with ``{read: false}`` in the filter and
decrements the counters by what was modified, so marking read twice decrements once.

Notifications are numbered in the order their sequences are taken, but may become visible slightly out
of that order; a stream waits for a missing number (see ``guild_notify.app.gaps``).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.clock import utc_now
from guild_common.keyset import keyset_page
from guild_common.mongo import Document, IndexSpec, StoreSchema
from guild_notify.adapters.inbox_counter_writes import GROUPS, InboxCounters
from guild_notify.app.ports import Position
from guild_notify.domain.notifications import Notification, NotificationGroup, NotificationType

NOTIFICATIONS = "notifications"
SCHEMA = StoreSchema(
    indexes=[
        IndexSpec(NOTIFICATIONS, [("recipient_id", 1), ("create_time", -1), ("_id", -1)]),
        IndexSpec(NOTIFICATIONS, [("recipient_id", 1), ("read", 1), ("create_time", -1), ("_id", -1)]),
        IndexSpec(NOTIFICATIONS, [("recipient_id", 1), ("group_key", 1), ("sequence", -1)]),
        # Notifications left unnumbered by a crash, and those stored before counters (no ``counted``).
        IndexSpec(NOTIFICATIONS, [("counted", 1), ("stored_at", 1)]),
        IndexSpec(GROUPS, [("recipient_id", 1), ("latest_sequence", -1), ("_id", -1)]),
    ],
)
# Created after :meth:`MongoInbox.migrate`, which drops the unique index of the same keys that
# sequences allocated from the index needed (an unnumbered notification has none, and the counter
# makes them unique now).
SEQUENCE_INDEXES = [IndexSpec(NOTIFICATIONS, [("recipient_id", 1), ("sequence", 1)])]
_LEGACY_SEQUENCE_INDEX = "recipient_id_1_sequence_1"
MARK_BATCH = 500
# A notification unnumbered for this long was left by a crashed writer, not one still at work.
STALE_AFTER = timedelta(minutes=1)


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
        self._counters = InboxCounters(db)

    async def add(self, n: Notification) -> Notification | None:
        try:
            await self._notifications.insert_one(self.document(n))
        except DuplicateKeyError:
            return None  # stored already (a crash before it was numbered is repaired at start)
        return await self._number(n)

    async def _number(self, n: Notification) -> Notification | None:
        """Number and count the stored, unnumbered ``n``; None if another writer numbered it first."""
        stored = n.with_sequence(await self._counters.take_sequence(n.recipient_id, unread=not n.read))
        await self._counters.group_added(stored)
        claimed = await self._notifications.update_one(
            {"_id": n.id, "counted": {"$ne": True}},
            {"$set": {"counted": True, "sequence": stored.sequence, "group_key": n.group_key}},
        )
        if not claimed.modified_count:  # numbered meanwhile (a repair racing its writer): undo ours
            await self._counters.group_removed(stored)
            await self._counters.add_unread(n.recipient_id, 0 if n.read else -1)
            return None
        return stored

    @staticmethod
    def document(n: Notification) -> Document:
        """The stored form of a notification (before its sequence is allocated)."""
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
            "group_key": n.group_key,
            "counted": False,
            "stored_at": utc_now(),
        }

    async def migrate(self) -> int:
        """Bring notifications stored by earlier versions (or left unnumbered by a crash) under the
        counters; run at start, before serving. Returns how many it changed."""
        info = await self._notifications.index_information()
        if info.get(_LEGACY_SEQUENCE_INDEX, {}).get("unique"):
            await self._notifications.drop_index(_LEGACY_SEQUENCE_INDEX)
        changed = await self._migrate_legacy()
        stale = {"counted": False, "stored_at": {"$lt": utc_now() - STALE_AFTER}}
        return changed + await self._number_all(stale)

    async def _migrate_legacy(self) -> int:
        """Notifications without ``counted``: numbered ones are counted in their groups already (the
        groups were recomputed then) and only join the recipient's counter; unnumbered ones (stored
        before sequences) are numbered like new ones, in creation order."""
        legacy = {"counted": {"$exists": False}, "sequence": {"$exists": True}}
        changed = 0
        while (
            docs := await self._notifications.find(legacy, {"recipient_id": 1, "read": 1, "sequence": 1})
            .limit(MARK_BATCH)
            .to_list()
        ):
            for doc in docs:
                marked = await self._notifications.update_one(
                    {"_id": doc["_id"], "counted": {"$exists": False}}, {"$set": {"counted": True}}
                )
                if marked.modified_count:
                    await self._counters.seed(
                        doc["recipient_id"], sequence=int(doc["sequence"]), unread=0 if doc["read"] else 1
                    )
                    changed += 1
        return changed + await self._number_all({"counted": {"$exists": False}})

    async def _number_all(self, query: Document) -> int:
        """Number what matches ``query``, each by the one starting process that leases it first (by
        moving its ``stored_at``), so that two replicas starting at once do not both take a number."""
        numbered = 0
        while (
            docs := await self._notifications.find(query)
            .sort([("recipient_id", 1), ("create_time", 1), ("_id", 1)])
            .limit(MARK_BATCH)
            .to_list()
        ):
            for doc in docs:
                n = _notification(doc)
                lease = {"_id": n.id, "counted": doc.get("counted", {"$exists": False})}
                if "stored_at" in doc:
                    lease["stored_at"] = doc["stored_at"]
                leased = await self._notifications.update_one(
                    lease, {"$set": {"counted": False, "group_key": n.group_key, "stored_at": utc_now()}}
                )
                if leased.modified_count and await self._number(n) is not None:
                    numbered += 1
        return numbered

    async def last_sequence(self, recipient_id: str) -> int:
        last = await self._notifications.find_one(
            {"recipient_id": recipient_id, "sequence": {"$gt": 0}}, {"sequence": 1}, sort=[("sequence", -1)]
        )
        return int(last.get("sequence", 0)) if last is not None else 0

    async def after(self, recipient_id: str, sequence: int, limit: int) -> list[Notification]:
        cursor = (
            self._notifications.find(
                {"recipient_id": recipient_id, "sequence": {"$gt": sequence}, "counted": True}
            )
            .sort([("sequence", 1)])
            .limit(limit)
        )
        return [_notification(d) async for d in cursor]

    async def page_after(
        self, recipient_id: str, unread_only: bool, limit: int, position: Position | None
    ) -> list[Notification]:
        query: dict[str, Any] = {"recipient_id": recipient_id, "counted": True}
        if unread_only:
            query["read"] = False
        if position is not None:
            at, last_id = position
            query["$or"] = [{"create_time": {"$lt": at}}, {"create_time": at, "_id": {"$lt": last_id}}]
        cursor = self._notifications.find(query).sort([("create_time", -1), ("_id", -1)]).limit(limit)
        return [_notification(d) async for d in cursor]

    async def unread_count(self, recipient_id: str) -> int:
        return await self._counters.unread(recipient_id)

    async def owned(self, recipient_id: str, ids: list[str]) -> set[str]:
        cursor = self._notifications.find(
            {"_id": {"$in": ids}, "recipient_id": recipient_id, "counted": True}, {"_id": 1}
        )
        return {d["_id"] async for d in cursor}

    async def mark_read(self, recipient_id: str, ids: list[str]) -> int:
        unread = {"_id": {"$in": ids}, "recipient_id": recipient_id, "read": False, "counted": True}
        return await self._mark(recipient_id, await self._unread_keys(unread, len(ids)))

    async def mark_all_read(self, recipient_id: str) -> int:
        unread = {"recipient_id": recipient_id, "read": False, "counted": True}
        marked = 0
        while found := await self._unread_keys(unread, MARK_BATCH):
            marked += await self._mark(recipient_id, found)
        return marked

    async def _unread_keys(self, query: Document, limit: int) -> dict[str, list[str]]:
        """Ids matching ``query`` (at most ``limit``) by group key."""
        cursor = self._notifications.find(query, {"group_key": 1}).limit(limit)
        by_group: dict[str, list[str]] = defaultdict(list)
        async for doc in cursor:
            by_group[doc["group_key"]].append(doc["_id"])
        return by_group

    async def _mark(self, recipient_id: str, by_group: dict[str, list[str]]) -> int:
        """Mark these read; decrement each counter by what this call changed (not what another did)."""
        marked = 0
        for key, ids in by_group.items():
            result = await self._notifications.update_many(
                {"_id": {"$in": ids}, "read": False}, {"$set": {"read": True}}
            )
            await self._counters.group_read(key, result.modified_count)
            marked += result.modified_count
        await self._counters.add_unread(recipient_id, -marked)
        return marked

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
