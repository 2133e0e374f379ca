"""Meaning vectors for questions stored before they were computed, once, in the background.

A pass over the posts in ``_id`` order, ``BATCH`` at a time (a keyset range on the primary key): the
questions without a vector are embedded together (on a worker thread: a batch takes tens of
milliseconds), then each is written guarded by having no vector yet (a question asked or edited meanwhile
keeps its own) with the search mark, and its search document is brought up to date. When the pass
reaches the end, a marker naming the key scheme is stored and later starts skip the pass. Replicas
running it at once write the same values; the guard makes the second write a no-op.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from guild_common.events.outbox import merge_updates
from guild_common.mongo import Document
from guild_common.sweeper import SweepingWorker
from guild_content.adapters.meaning_store import SIM_KEYS, VEC
from guild_content.adapters.search_store import QUESTIONS, SearchIndex, is_question, search_mark
from guild_content.app.ports import Embedder
from guild_content.domain import similarity

log = structlog.get_logger("guild.content.meaning")

BACKFILLS = "backfills"
BATCH = 500
SCHEME = f"meaning:{similarity.DIM}:{similarity.SEED}:{similarity.TABLES}x{similarity.BITS}"


class MeaningBackfill(SweepingWorker):
    def __init__(
        self, db: AsyncDatabase[Document], embedder: Embedder, *, sweep_seconds: float = 30.0
    ) -> None:
        super().__init__(sweep_seconds=sweep_seconds)
        self._posts = db[QUESTIONS]
        self._markers = db[BACKFILLS]
        self._search = SearchIndex(db)
        self._embedder = embedder
        self._after: Any = None
        self._done = False
        self.written = 0

    async def sweep(self) -> bool:
        """One batch of the pass; True while more remain."""
        if self._done:
            return False
        if self._after is None and await self._markers.find_one({"_id": SCHEME}) is not None:
            self._done = True
            return False
        query: Document = {} if self._after is None else {"_id": {"$gt": self._after}}
        cursor = self._posts.find(query, {"title": 1, "body": 1, "kind": 1, VEC: 1}).sort([("_id", 1)])
        docs = await cursor.limit(BATCH).to_list()
        if docs:
            self._after = docs[-1]["_id"]
            self.written += await self._embed([d for d in docs if is_question(d) and VEC not in d])
        if len(docs) < BATCH:
            await self._markers.update_one({"_id": SCHEME}, {"$set": {"done": True}}, upsert=True)
            log.info("meaning vectors backfilled", written=self.written)
            self._done = True
            return False
        return True

    async def _embed(self, docs: list[Document]) -> int:
        if not docs:
            return 0
        texts = [similarity.text_of(str(d.get("title", "")), str(d.get("body", ""))) for d in docs]
        vectors = await asyncio.to_thread(self._embedder.embed_many, texts)
        writes = [
            UpdateOne(
                {"_id": d["_id"], VEC: {"$exists": False}},
                merge_updates(
                    {"$set": {VEC: similarity.pack(v), SIM_KEYS: similarity.bucket_keys(v)}}, search_mark()
                ),
            )
            for d, v in zip(docs, vectors, strict=True)
        ]
        result = await self._posts.bulk_write(writes, ordered=False)
        for d in docs:
            await self._search.sync_id(d["_id"], hints_changed=False)
        return result.modified_count
