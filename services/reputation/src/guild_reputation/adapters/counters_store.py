"""Counting ledger entries into their counter documents, each entry once.

Counting once. Each counter is applied an entry by an update whose filter says it does not hold the
entry yet: the counter keeps the ids it was applied in ``seen``, in two slots by the hour of writing
(``seen.a`` for even hours, ``seen.b`` for odd ones, ``seen.ha``/``seen.hb`` the hour each holds). A
merged statement is an upsert guarded by "holds none of these ids, and this hour's slot is this hour's
or empty": replayed, or meeting a slot still holding an older hour's ids (how old ids are forgotten),
or another writer creating the counter at once, it fails with a duplicate key, which ends the command
(the embedded store stops at the first failed statement of any ``update`` and does not say which).
Then the batch's counters are read back (one ``find``): those holding all their entries are done, and
each entry a counter does not hold is applied on its own by the safe form (``updates``: an upsert
creating the counter if missing, an update emptying this hour's slot if it holds an older hour's ids,
then the ``$inc`` and ``$push`` of the entry guarded by "not held", none of which can fail). A
redelivery within an hour of the first attempt is therefore never counted twice, far longer than
JetStream redelivers an unacknowledged message (``max_deliver`` x (``ack_wait`` + backoff): minutes).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, OperationFailure

from guild_common.mongo import Document
from guild_reputation.adapters import seen_writes
from guild_reputation.adapters.ledger_documents import (
    COUNTERS,
    SHARED,
    TAG_TOTALS,
    TOTALS,
    Counter,
    Merged,
    holds,
    updates,
)

DUPLICATE_KEY = 11000


class CountersStore:
    """Applies entries to the counters in ``totals``, ``tag_totals`` and ``ledger_counters``."""

    def __init__(self, db: AsyncDatabase[Document], clock: Callable[[], datetime]) -> None:
        self._db = db
        self._clock = clock
        self._collections: dict[str, AsyncCollection[Document]] = {
            name: db[name] for name in (TOTALS, TAG_TOTALS, COUNTERS)
        }

    async def count(self, entry_id: str, counters: Sequence[Counter]) -> None:
        """Apply the entry to the counters (skipping those holding it): one ``bulk_write`` per
        collection of updates none of which can fail, not read back."""
        now = self._clock()
        await self._count_each(now, [(entry_id, counter) for counter in counters])

    async def _count_each(self, now: datetime, applied: Sequence[tuple[str, Counter]]) -> None:
        """Apply each (entry id, counter) on its own (``updates``), one ordered ``bulk_write`` per
        collection."""
        by_collection: dict[str, list[UpdateOne]] = {}
        for entry_id, counter in applied:
            by_collection.setdefault(counter.collection, []).extend(updates(entry_id, counter, now))
        for name, ops in by_collection.items():
            await self._collections[name].bulk_write(ops, ordered=True)

    async def count_many(self, entries: Sequence[tuple[str, Sequence[Counter]]]) -> None:
        """Apply entries to their counters, each once: per counter document one update carrying every
        entry of the batch counted there (``Merged``), one command per collection."""
        now = self._clock()
        merged: dict[tuple[str, str], Merged] = {}
        for entry_id, counters in entries:
            for counter in counters:
                key = (counter.collection, counter.id)
                merged.setdefault(key, Merged(counter)).add(entry_id, counter)
        by_collection: dict[str, list[Merged]] = {}
        for (name, _), item in merged.items():
            by_collection.setdefault(name, []).append(item)
        await asyncio.gather(
            *(
                (self._count_shared if name in SHARED else self._count_merged)(name, items, now)
                for name, items in by_collection.items()
            )
        )

    async def _count_shared(self, name: str, items: Sequence[Merged], now: datetime) -> None:
        """Totals and tag totals: an entry adds the same to each of them (points and one entry), so
        the counters of a batch that take the same update share one ``multi`` statement, all in one
        ``update`` command; it matches every counter that exists, holds none of the entries and whose
        slot is this hour's (the command says how many it matched). When it matched fewer, the
        counters are read back: missing ones are created with zero counts (``insert_many``, a
        counter created meanwhile by another writer refused alone) and sent their statements again,
        and the entries the others do not hold are applied one by one (``updates``)."""
        shared: dict[tuple[Any, ...], list[Merged]] = {}
        for item in items:
            shared.setdefault(item.signature(), []).append(item)
        statements = [
            group[0].shared_statement([i.counter.id for i in group], now) for group in shared.values()
        ]
        if await self._update_all(name, statements) == len(items):
            return
        collection = self._collections[name]
        ids = [item.counter.id for item in items]
        docs = {doc["_id"]: doc async for doc in collection.find({"_id": {"$in": ids}})}
        created = [item for item in items if item.counter.id not in docs]
        counted: set[str] = set()
        if created:
            try:
                await collection.insert_many([item.initial() for item in created], ordered=False)
            except BulkWriteError as exc:
                if any(error.get("code") != DUPLICATE_KEY for error in exc.details.get("writeErrors", [])):
                    raise
            again: dict[tuple[Any, ...], list[Merged]] = {}
            for item in created:
                again.setdefault(item.signature(), []).append(item)
            statements = [g[0].shared_statement([i.counter.id for i in g], now) for g in again.values()]
            created_ids = [item.counter.id for item in created]
            if await self._update_all(name, statements) == len(created):
                counted.update(created_ids)
            else:
                docs.update({d["_id"]: d async for d in collection.find({"_id": {"$in": created_ids}})})
        missing = [
            (entry_id, counter)
            for item in items
            if item.counter.id not in counted
            for entry_id, counter in item.applied
            if not holds(docs.get(item.counter.id), entry_id, counter)
        ]
        await self._count_each(now, missing)

    async def _update_all(self, name: str, statements: list[Document]) -> int:
        """Send statements that cannot fail as one ordered ``update`` command; how many documents
        they matched."""
        reply = await self._db.command({"update": name, "updates": statements, "ordered": True})
        errors = reply.get("writeErrors") or []
        if errors:
            raise OperationFailure(f"counting into {name} failed: {errors[0].get('errmsg', '')[:200]}")
        return int(reply.get("n", 0))

    async def _count_merged(self, name: str, items: Sequence[Merged], now: datetime) -> None:
        """One ordered ``update`` command of the merged updates. Each applies unless one of its
        entries is held already, or its slot of this hour holds an older hour's ids, or another
        writer created the document with other guards at once (a duplicate key error that ends the
        command). Then the counters are read back: those holding all their entries are done, and the
        entries the others do not hold are applied one by one (``updates``), each still guarded."""
        statements = [item.statement(now) for item in items]
        reply = await self._db.command({"update": name, "updates": statements, "ordered": True})
        errors = reply.get("writeErrors") or []
        if not errors:
            return
        if any(error.get("code") != DUPLICATE_KEY for error in errors):
            raise OperationFailure(f"counting into {name} failed: {errors[0].get('errmsg', '')[:200]}")
        ids = [item.counter.id for item in items]
        docs = {doc["_id"]: doc async for doc in self._collections[name].find({"_id": {"$in": ids}})}
        missing = [
            (entry_id, counter)
            for item in items
            for entry_id, counter in item.applied
            if not holds(docs.get(item.counter.id), entry_id, counter)
        ]
        await self._count_each(now, missing)

    async def apply(self, entry_id: str, counter: Counter) -> bool:
        """Apply the entry to one counter; False when it held it already."""
        if seen_writes.holds(
            await self._collections[counter.collection].find_one({"_id": counter.id}), entry_id
        ):
            return False
        await self.count(entry_id, [counter])
        return True
