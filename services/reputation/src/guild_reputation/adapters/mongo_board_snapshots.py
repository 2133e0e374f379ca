"""Snapshots of the in-memory boards, a few large documents each, so a replica starts without reading
one small total per member.

A snapshot is chunks of (member, points) pairs (two parallel arrays, ``chunk`` pairs at most) in
``board_snapshot_chunks``, made visible by its head in ``board_snapshots``, written last. Only the
newest snapshots are kept; chunks without a kept head and older than the oldest kept one (a write
that failed half-way) are dropped with them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase

from guild_common.mongo import Document, IndexSpec
from guild_reputation.app.ports import BoardChunk, SnapshotHead

BOARD_SNAPSHOTS = "board_snapshots"
BOARD_SNAPSHOT_CHUNKS = "board_snapshot_chunks"
KEEP = 2
INDEXES = [
    IndexSpec(BOARD_SNAPSHOTS, [("as_of", -1)]),
    IndexSpec(BOARD_SNAPSHOT_CHUNKS, [("snapshot_id", 1), ("seq", 1)]),
    IndexSpec(BOARD_SNAPSHOT_CHUNKS, [("as_of", 1)]),
]


class MongoBoardSnapshots:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._heads = db[BOARD_SNAPSHOTS]
        self._chunks = db[BOARD_SNAPSHOT_CHUNKS]

    async def latest(self) -> SnapshotHead | None:
        docs = await self._heads.find({}).sort("as_of", -1).limit(1).to_list()
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
                    "seq": seq,
                    "as_of": head.as_of,
                    "community_id": chunk.community_id,
                    "period": chunk.period,
                    "member_ids": chunk.member_ids,
                    "points": chunk.points,
                }
            )
        await self._heads.insert_one(
            {"_id": head.snapshot_id, "as_of": head.as_of, "members": head.members, "chunks": len(chunks)}
        )
        return await self._prune()

    async def _prune(self) -> datetime:
        kept = await self._heads.find({}, {"as_of": 1}).sort("as_of", -1).limit(KEEP).to_list()
        oldest: datetime = kept[-1]["as_of"]
        if len(kept) < KEEP:
            return oldest
        kept_ids = [doc["_id"] for doc in kept]
        await self._heads.delete_many({"as_of": {"$lt": oldest}})
        await self._chunks.delete_many({"as_of": {"$lt": oldest}, "snapshot_id": {"$nin": kept_ids}})
        return oldest

    async def discard(self) -> None:
        await self._heads.delete_many({})
        await self._chunks.delete_many({})
