"""Snapshots of the in-memory boards, a few large documents each, so a replica starts without reading
one small total per member.

A snapshot is chunks of (member, points) pairs (two parallel arrays, ``chunk`` pairs at most) in
``board_snapshot_chunks``, made visible by its head in ``board_snapshots``, written last. Only the
newest snapshots are kept; chunks without a kept head and older than the oldest kept one (a write
that failed half-way) are dropped with them.

Deployments serving different slices (region and programme filters) may share a database: heads and
chunks carry their slice (``<region filter>.<programme filter>``), and a deployment reads and prunes
only its own. Snapshots written before slices were recorded are dropped at the next write.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase

from guild_common.mongo import Document, IndexSpec, StoreSchema
from guild_reputation.app.ports import BoardChunk, SnapshotHead

BOARD_SNAPSHOTS = "board_snapshots"
BOARD_SNAPSHOT_CHUNKS = "board_snapshot_chunks"
KEEP = 2
INDEXES = [
    # The oldest head of any slice: how far back the shared totals journal is kept.
    IndexSpec(BOARD_SNAPSHOTS, [("as_of", -1)]),
    IndexSpec(BOARD_SNAPSHOTS, [("slice", 1), ("as_of", -1)]),
    IndexSpec(BOARD_SNAPSHOT_CHUNKS, [("snapshot_id", 1), ("seq", 1)]),
    IndexSpec(BOARD_SNAPSHOT_CHUNKS, [("slice", 1), ("as_of", 1)]),
]
SCHEMA = StoreSchema(indexes=INDEXES)


def slice_of(region_filter: str, programme_filter: str) -> str:
    """The slice of the events a deployment consumes, as its snapshots record it."""
    return f"{region_filter}.{programme_filter}"


class MongoBoardSnapshots:
    def __init__(self, db: AsyncDatabase[Document], slice_: str = slice_of("*", "*")) -> None:
        self._heads = db[BOARD_SNAPSHOTS]
        self._chunks = db[BOARD_SNAPSHOT_CHUNKS]
        self._slice = slice_

    async def latest(self) -> SnapshotHead | None:
        docs = await self._heads.find({"slice": self._slice}).sort("as_of", -1).limit(1).to_list()
        if not docs:
            return None
        doc = docs[0]
        return SnapshotHead(doc["_id"], doc["as_of"], int(doc.get("members", 0)))

    async def chunks(self, snapshot_id: str) -> AsyncIterator[BoardChunk]:
        cursor = self._chunks.find({"snapshot_id": snapshot_id}).sort("seq", 1).batch_size(4)
        async for doc in cursor:
            yield BoardChunk(
                doc["community_id"], doc["period"], list(doc["member_ids"]), [int(p) for p in doc["points"]]
            )

    async def write(self, head: SnapshotHead, chunks: Sequence[BoardChunk]) -> datetime:
        for seq, chunk in enumerate(chunks):
            await self._chunks.insert_one(
                {
                    "_id": f"{head.snapshot_id}:{seq}",
                    "snapshot_id": head.snapshot_id,
                    "slice": self._slice,
                    "seq": seq,
                    "as_of": head.as_of,
                    "community_id": chunk.community_id,
                    "period": chunk.period,
                    "member_ids": chunk.member_ids,
                    "points": chunk.points,
                }
            )
        await self._heads.insert_one(
            {
                "_id": head.snapshot_id,
                "slice": self._slice,
                "as_of": head.as_of,
                "members": head.members,
                "chunks": len(chunks),
            }
        )
        return await self._prune()

    async def _prune(self) -> datetime:
        """Drop this slice's snapshots but the newest ``KEEP``; the time of the oldest snapshot any
        slice keeps (the totals journal they share is kept from it on)."""
        own = {"slice": self._slice}
        kept = await self._heads.find(own, {"as_of": 1}).sort("as_of", -1).limit(KEEP).to_list()
        if len(kept) == KEEP:
            oldest: datetime = kept[-1]["as_of"]
            kept_ids = [doc["_id"] for doc in kept]
            await self._heads.delete_many({**own, "as_of": {"$lt": oldest}})
            await self._chunks.delete_many(
                {**own, "as_of": {"$lt": oldest}, "snapshot_id": {"$nin": kept_ids}}
            )
        # Written before slices were recorded: whose they are is unknown. (Heads are few; their
        # chunks are found by snapshot id.)
        unsliced = [
            d["_id"] for d in await self._heads.find({"slice": {"$exists": False}}, {"_id": 1}).to_list()
        ]
        if unsliced:
            await self._chunks.delete_many({"snapshot_id": {"$in": unsliced}})
            await self._heads.delete_many({"_id": {"$in": unsliced}})
        first = await self._heads.find({}, {"as_of": 1}).sort("as_of", 1).limit(1).to_list()
        since: datetime = first[0]["as_of"] if first else kept[-1]["as_of"]
        return since

    async def discard(self) -> None:
        await self._heads.delete_many({})
        await self._chunks.delete_many({})
