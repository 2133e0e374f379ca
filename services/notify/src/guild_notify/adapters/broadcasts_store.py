"""Broadcasts, per-member read state and the membership read model that decides who sees them.

A broadcast is one document however large its community (O(1) writes). A member's view of it is computed
on read: visible if it was sent to one of the member's communities since they joined, read if it is in
``broadcast_reads`` or older than the member's read-all cursor.

Each broadcast also takes the next number of one service-wide ``sequence`` when it is inserted (claimed
by the insert under a unique index), so open streams can follow the
broadcasts in the order they were stored: a broadcast is inserted only after every lower number is
visible, so a reader that saw number ``n`` has seen every broadcast up to ``n``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.atomic import update_guarded, upsert_by_id
from guild_common.clock import utc_now
from guild_common.mongo import Document, IndexSpec, StoreSchema
from guild_notify.app.ports import Position
from guild_notify.domain.broadcasts import Broadcast, Membership
from guild_notify.domain.notifications import NotificationType

BROADCASTS = "broadcasts"
READS = "broadcast_reads"
CURSORS = "broadcast_cursors"
MEMBERSHIPS = "memberships"
# One document per member with their communities and join times: read by _id, the one lookup every
# store serves from its primary key, on each inbox read.
MEMBER_COMMUNITIES = "member_communities"
SCHEMA = StoreSchema(
    indexes=[
        IndexSpec(BROADCASTS, [("community_id", 1), ("create_time", -1), ("_id", -1)]),
        IndexSpec(READS, [("member_id", 1), ("community_id", 1), ("create_time", -1)]),
        IndexSpec(MEMBERSHIPS, [("community_id", 1), ("role", 1), ("_id", 1)]),
    ],
)
# Created after :meth:`MongoBroadcasts.backfill_sequences` numbers broadcasts stored before sequences.
SEQUENCE_INDEXES = [IndexSpec(BROADCASTS, [("sequence", 1)], unique=True)]
COUNTERS = "broadcast_counters"
_BACKFILL_COUNTER = "backfill"
_ALLOCATION_ATTEMPTS = 64
_SCAN = 200
_BATCH = 500


def _broadcast(doc: Document) -> Broadcast:
    return Broadcast(
        id=doc["broadcast_id"],
        community_id=doc["community_id"],
        author_id=doc["author_id"],
        text=doc["text"],
        subject_id=doc.get("subject_id", ""),
        create_time=doc["create_time"],
        type=NotificationType(doc.get("type", NotificationType.BROADCAST.value)),
        sequence=doc.get("sequence", 0),
    )


def _after(position: Position | None) -> dict[str, Any]:
    if position is None:
        return {}
    at, last_id = position
    return {"$or": [{"create_time": {"$lt": at}}, {"create_time": at, "_id": {"$lt": last_id}}]}


class MongoMemberships:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._memberships = db[MEMBERSHIPS]
        self._communities = db[MEMBER_COMMUNITIES]

    async def joined(self, community_id: str, member_id: str, role: str, at: datetime) -> None:
        key = f"{community_id}:{member_id}"
        await upsert_by_id(
            self._memberships,
            key,
            {"$set": {"community_id": community_id, "member_id": member_id, "role": role, "join_time": at}},
        )
        await self._set_community(member_id, community_id, at)

    async def _set_community(self, member_id: str, community_id: str, joined: datetime | None) -> None:
        """Replace the member's entry for the community: built from the list read and written with a
        version guard, so two replicas changing one member's communities at once keep both changes."""

        def build(doc: Document | None) -> Document:
            rest = [c for c in (doc or {}).get("communities", []) if c["community_id"] != community_id]
            if joined is not None:
                rest.append({"community_id": community_id, "join_time": joined})
            return {"$set": {"communities": rest}}

        await update_guarded(self._communities, member_id, build)

    async def role_changed(self, community_id: str, member_id: str, role: str, at: datetime) -> None:
        key = f"{community_id}:{member_id}"
        await upsert_by_id(
            self._memberships,
            key,
            {
                "$set": {"community_id": community_id, "member_id": member_id, "role": role},
                "$setOnInsert": {"join_time": at},
            },
        )
        stored = await self._memberships.find_one({"_id": key}, {"join_time": 1})
        if stored is not None:
            await self._set_community(member_id, community_id, stored["join_time"])

    async def left(self, community_id: str, member_id: str) -> None:
        key = f"{community_id}:{member_id}"
        await self._memberships.delete_one({"_id": key})
        await self._set_community(member_id, community_id, None)

    async def get(self, community_id: str, member_id: str) -> Membership | None:
        doc = await self._memberships.find_one({"_id": f"{community_id}:{member_id}"})
        return _membership(doc) if doc is not None else None

    async def members_among(self, community_id: str, member_ids: list[str]) -> set[str]:
        """Which of ``member_ids`` belong to the community."""
        found: set[str] = set()
        for start in range(0, len(member_ids), _BATCH):
            keys = [f"{community_id}:{m}" for m in member_ids[start : start + _BATCH]]
            cursor = self._memberships.find({"_id": {"$in": keys}}, {"member_id": 1})
            found.update([d["member_id"] async for d in cursor])
        return found

    async def with_roles(self, community_id: str, roles: tuple[str, ...], limit: int) -> list[str]:
        """Up to ``limit`` members holding one of ``roles`` in the community, by id."""
        cursor = (
            self._memberships.find(
                {"community_id": community_id, "role": {"$in": list(roles)}}, {"member_id": 1}
            )
            .sort([("_id", 1)])
            .limit(limit)
        )
        return [d["member_id"] async for d in cursor]

    async def of_member(self, member_id: str) -> list[Membership]:
        """The member's communities (role not included: ask :meth:`get` for one community's role)."""
        doc = await self._communities.find_one({"_id": member_id})
        return [
            Membership(community_id=c["community_id"], member_id=member_id, role="", join_time=c["join_time"])
            for c in (doc or {}).get("communities", [])
        ]


def _membership(doc: Document) -> Membership:
    return Membership(
        community_id=doc["community_id"],
        member_id=doc["member_id"],
        role=doc["role"],
        join_time=doc["join_time"],
    )


class MongoBroadcasts:
    def __init__(
        self, db: AsyncDatabase[Document], on_create: Callable[[str], None] = lambda community_id: None
    ) -> None:
        self._broadcasts = db[BROADCASTS]
        self._reads = db[READS]
        self._cursors = db[CURSORS]
        self._counters = db[COUNTERS]
        self._on_create = on_create

    async def create(self, b: Broadcast) -> Broadcast:
        stored = await self._insert(b)
        if stored is None:
            doc = await self._broadcasts.find_one({"_id": b.notification_id})
            assert doc is not None
            return _broadcast(doc)
        self._on_create(stored.community_id)
        return stored

    async def _insert(self, b: Broadcast) -> Broadcast | None:
        """Store it under the next sequence; None if it is stored already.

        No lock: a number is claimed by the insert under the unique index, so whichever writer (task or
        replica) loses takes the next one; the highest number is read from the index each time."""
        if await self._broadcasts.find_one({"_id": b.notification_id}, {"_id": 1}) is not None:
            return None
        for _ in range(_ALLOCATION_ATTEMPTS):
            stored = replace(b, sequence=await self.last_sequence() + 1)
            try:
                await self._broadcasts.insert_one(
                    {
                        "_id": b.notification_id,
                        "broadcast_id": b.id,
                        "community_id": b.community_id,
                        "author_id": b.author_id,
                        "text": b.text,
                        "subject_id": b.subject_id,
                        "create_time": b.create_time,
                        "type": b.type.value,
                        "sequence": stored.sequence,
                    }
                )
            except DuplicateKeyError:
                if await self._broadcasts.find_one({"_id": b.notification_id}, {"_id": 1}) is not None:
                    return None
                continue  # another process took this number: take the next one
            return stored
        raise RuntimeError(f"no free broadcast sequence after {_ALLOCATION_ATTEMPTS} attempts")

    async def last_sequence(self) -> int:
        last = await self._broadcasts.find_one({}, {"sequence": 1}, sort=[("sequence", -1)])
        return int(last.get("sequence", 0)) if last is not None else 0

    async def backfill_sequences(self) -> int:
        """Number broadcasts stored before sequences existed, in creation order."""
        legacy = self._broadcasts.find({"sequence": {"$exists": False}}, {"_id": 1}).sort(
            [("create_time", 1), ("_id", 1)]
        )
        # Numbers come from a counter above every number stored, so replicas starting together never
        # give two broadcasts one number (one they both number keeps the first; the other is unused).
        await upsert_by_id(self._counters, _BACKFILL_COUNTER, {"$max": {"seq": await self.last_sequence()}})
        count = 0
        async for doc in legacy:
            counter = await self._counters.find_one_and_update(
                {"_id": _BACKFILL_COUNTER}, {"$inc": {"seq": 1}}, return_document=ReturnDocument.AFTER
            )
            assert counter is not None
            numbered = await self._broadcasts.update_one(
                {"_id": doc["_id"], "sequence": {"$exists": False}}, {"$set": {"sequence": counter["seq"]}}
            )
            count += numbered.modified_count
        return count

    async def stream_after(
        self,
        member_id: str,
        since: dict[str, datetime],
        sequence: int,
        upto: int,
        limit: int,
        *,
        hidden: frozenset[str] = frozenset(),
    ) -> list[tuple[Broadcast, bool]]:
        """Up to ``limit`` visible broadcasts numbered in (``sequence``, ``upto``], in sequence order,
        each with its read flag."""
        if not since or upto <= sequence:
            return []
        query = {
            "$and": [{"sequence": {"$gt": sequence, "$lte": upto}}, self._visible(since, None, False, hidden)]
        }
        docs = await self._broadcasts.find(query).sort([("sequence", 1)]).limit(limit).to_list()
        if not docs:
            return []
        cursor = await self._cursor(member_id)
        ids = [d["_id"] for d in docs]
        read = {
            r["broadcast"]
            async for r in self._reads.find({"member_id": member_id, "broadcast": {"$in": ids}})
        }
        return [
            (_broadcast(d), d["_id"] in read or (cursor is not None and d["create_time"] <= cursor))
            for d in docs
        ]

    async def _cursor(self, member_id: str) -> datetime | None:
        doc = await self._cursors.find_one({"_id": member_id})
        return doc["read_before"] if doc is not None else None

    @staticmethod
    def _visible(
        since: dict[str, datetime],
        cursor: datetime | None,
        unread_only: bool,
        hidden: frozenset[str] = frozenset(),
    ) -> dict[str, Any]:
        """Broadcasts to ``since``'s communities from the member's join time (and after the cursor),
        leaving out the ``hidden`` types (documents without a type are leaders' broadcasts)."""
        clauses = []
        for community_id, joined in since.items():
            if unread_only and cursor is not None and cursor >= joined:
                clauses.append({"community_id": community_id, "create_time": {"$gt": cursor}})
            else:
                clauses.append({"community_id": community_id, "create_time": {"$gte": joined}})
        if hidden:
            return {"$and": [{"$or": clauses}, {"type": {"$nin": sorted(hidden)}}]}
        return {"$or": clauses}

    async def after(
        self,
        member_id: str,
        since: dict[str, datetime],
        unread_only: bool,
        limit: int,
        position: Position | None,
        *,
        hidden: frozenset[str] = frozenset(),
    ) -> list[tuple[Broadcast, bool]]:
        """Up to ``limit`` visible broadcasts after ``position`` (newest first), each with its read flag."""
        if not since:
            return []
        cursor = await self._cursor(member_id)
        found: list[tuple[Broadcast, bool]] = []
        while len(found) < limit:
            query = {"$and": [self._visible(since, cursor, unread_only, hidden), _after(position)]}
            docs = await (
                self._broadcasts.find(query).sort([("create_time", -1), ("_id", -1)]).limit(_SCAN).to_list()
            )
            if not docs:
                break
            ids = [d["_id"] for d in docs]
            read = {
                r["broadcast"]
                async for r in self._reads.find({"member_id": member_id, "broadcast": {"$in": ids}})
            }
            for doc in docs:
                is_read = doc["_id"] in read or (cursor is not None and doc["create_time"] <= cursor)
                if not (unread_only and is_read):
                    found.append((_broadcast(doc), is_read))
            if len(docs) < _SCAN:
                break
            position = (docs[-1]["create_time"], docs[-1]["_id"])
        return found[:limit]

    async def unread_count(
        self, member_id: str, since: dict[str, datetime], *, hidden: frozenset[str] = frozenset()
    ) -> int:
        if not since:
            return 0
        visible = self._visible(since, await self._cursor(member_id), True, hidden)
        total = await self._broadcasts.count_documents(visible)
        if total == 0:
            return 0
        read = await self._reads.count_documents({"$and": [{"member_id": member_id}, visible]})
        return max(total - read, 0)

    async def visible_ids(
        self, since: dict[str, datetime], ids: list[str], *, hidden: frozenset[str] = frozenset()
    ) -> set[str]:
        if not since or not ids:
            return set()
        query = {"$and": [{"_id": {"$in": ids}}, self._visible(since, None, False, hidden)]}
        return {d["_id"] async for d in self._broadcasts.find(query, {"_id": 1})}

    async def mark_read(
        self,
        member_id: str,
        since: dict[str, datetime],
        ids: list[str],
        *,
        hidden: frozenset[str] = frozenset(),
    ) -> int:
        """Mark the visible ones among ``ids`` read; how many were unread."""
        if not since or not ids:
            return 0
        cursor = await self._cursor(member_id)
        query = {"$and": [{"_id": {"$in": ids}}, self._visible(since, None, False, hidden)]}
        marked = 0
        async for doc in self._broadcasts.find(query):
            if cursor is not None and doc["create_time"] <= cursor:
                continue
            try:
                await self._reads.insert_one(
                    {
                        "_id": f"{doc['_id']}:{member_id}",
                        "broadcast": doc["_id"],
                        "member_id": member_id,
                        "community_id": doc["community_id"],
                        "create_time": doc["create_time"],
                        "type": doc.get("type", NotificationType.BROADCAST.value),
                    }
                )
            except DuplicateKeyError:
                continue
            marked += 1
        return marked

    async def mark_all_read(
        self, member_id: str, since: dict[str, datetime], *, hidden: frozenset[str] = frozenset()
    ) -> int:
        unread = await self.unread_count(member_id, since, hidden=hidden)
        # ``$max``: of two marks at once, the cursor keeps the later; it never moves back.
        await upsert_by_id(self._cursors, member_id, {"$max": {"read_before": utc_now()}})
        return unread
