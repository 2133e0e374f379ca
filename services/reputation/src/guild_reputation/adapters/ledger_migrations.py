"""Counters built and checked from the ledger itself: the migrations run once per database at start,
and the exact recount the fast path must equal.

The slow path, ``recount_member``, recomputes a member's counters from the ledger (what the fast path
"""

from __future__ import annotations

from collections.abc import Iterable

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.mongo import Document
from guild_reputation.adapters import seen_writes
from guild_reputation.adapters.ledger_documents import (
    COUNTERS,
    ENTRY_FIELDS,
    LEDGER,
    META,
    TAG_TOTALS,
    TOTALS,
    tally,
)
from guild_reputation.domain.periods import ALL_TIME

PERIODS_MIGRATION = "totals_have_periods"
COUNTERS_MIGRATION = "counters_from_ledger"


class LedgerMigrations:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._ledger = db[LEDGER]
        self._totals = db[TOTALS]
        self._meta = db[META]
        self._collections: dict[str, AsyncCollection[Document]] = {
            name: db[name] for name in (TOTALS, TAG_TOTALS, COUNTERS)
        }

    async def migrate_totals(self) -> bool:
        """Give totals stored before periods existed their ``all`` period, once per database; True when
        it did (boards snapshots taken before do not show them)."""
        if await self._meta.find_one({"_id": PERIODS_MIGRATION}) is not None:
            return False
        await self._totals.update_many({"period": {"$exists": False}}, {"$set": {"period": ALL_TIME}})
        try:
            await self._meta.insert_one({"_id": PERIODS_MIGRATION})
        except DuplicateKeyError:
            pass  # another replica finished it too
        return True

    async def recount_member(self, member_id: str) -> int:
        """The slow, exact path: recompute every counter of the member's entries from the ledger and
        store it (for repair; concurrent recording of the member's entries may be lost meanwhile, so
        it runs with the consumers stopped). How many counters."""
        counted = tally(await self._entries({"member_id": member_id}))
        for (collection, _id), doc in counted.items():
            await self._collections[collection].replace_one({"_id": _id}, doc, upsert=True)
        return len(counted)

    async def recomputed(self, member_id: str) -> dict[tuple[str, str], Document]:
        """The member's counters as the ledger gives them, and the stored ones under the same keys
        side by side would be equal: see ``stored_counters``."""
        return tally(await self._entries({"member_id": member_id}))

    async def stored_counters(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Document]:
        """The stored counters of the given (collection, ``_id``) keys without their bookkeeping
        (``seen``, ``applied``, ``updated``; tags and targets sorted)."""
        wanted: dict[str, list[str]] = {}
        for collection, _id in keys:
            wanted.setdefault(collection, []).append(_id)
        out: dict[tuple[str, str], Document] = {}
        for collection, ids in wanted.items():
            bookkeeping = {seen_writes.SEEN: 0, seen_writes.LEGACY_APPLIED: 0, "updated": 0}
            async for doc in self._collections[collection].find({"_id": {"$in": ids}}, bookkeeping):
                for name in ("tags", "targets"):
                    if name in doc:
                        doc[name] = sorted(doc[name])
                out[(collection, doc["_id"])] = doc
        return out

    async def _entries(self, match: Document) -> list[Document]:
        docs = await self._ledger.find(match, ENTRY_FIELDS).to_list()
        return sorted(docs, key=lambda d: (d["time"], d["_id"]))

    async def migrate_counters(self) -> int:
        """Build the counters of the entries recorded before counters existed, once per database (at
        start, before the consumers run); how many counters it wrote.

        One pass over the ledger in member order, one member's entries in memory at a time. Totals
        already kept by counting (they have ``seen`` or ``applied``) and counters that exist are left
        as they are; totals stored by recomputation before equal the ledger's sums and are given the
        same values. Consumers of an earlier version must be stopped first: entries they record
        after the pass are in no counter (deleting the ``counters_from_ledger`` document of
        ``ledger_meta`` runs the pass again at the next start).
        """
        if await self._meta.find_one({"_id": COUNTERS_MIGRATION}) is not None:
            return 0
        written = 0
        member_id: str | None = None
        entries: list[Document] = []
        cursor = self._ledger.find({}, ENTRY_FIELDS).sort([("member_id", 1), ("time", 1), ("_id", 1)])
        async for entry in cursor.batch_size(10_000):
            if entry["member_id"] != member_id:
                written += await self._keep_counters(tally(entries))
                member_id, entries = entry["member_id"], []
            entries.append(entry)
        written += await self._keep_counters(tally(entries))
        try:
            await self._meta.insert_one({"_id": COUNTERS_MIGRATION})
        except DuplicateKeyError:
            pass  # another replica finished it too
        return written

    async def _keep_counters(self, counted: dict[tuple[str, str], Document]) -> int:
        """Store counters unless kept by counting already; how many were stored."""
        written = 0
        for (collection, _id), doc in counted.items():
            target = self._collections[collection]
            try:
                if collection == COUNTERS:
                    await target.insert_one(doc)
                else:
                    values = {k: v for k, v in doc.items() if k != "_id"}
                    counted_by_entries = {
                        seen_writes.LEGACY_APPLIED: {"$exists": False},
                        seen_writes.SEEN: {"$exists": False},
                    }
                    await target.update_one({"_id": _id, **counted_by_entries}, {"$set": values}, upsert=True)
                written += 1
            except DuplicateKeyError:
                pass  # kept by counting already
        return written
