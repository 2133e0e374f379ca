"""The points ledger in MongoDB: entries recorded, counted and released.

A ledger entry's ``_id`` is ``<event id>:<rule>`` (or another natural key): inserting it is the
idempotency check (``DuplicateKeyError``: recorded before). Each entry carries its day, week and month
in the configured time zone, and the tags of the post it is about (a reversal those of the entries it
takes back).

Recording in batches. The handlers of a consumer's batch run at once; the entries they record while
the previous batch is being written are written together (``record_many``, fed by ``record`` through a
``Batcher``): one unordered ``insert_many`` (an id recorded before fails alone, and one ``find`` reads
those back), each decision's guarded counter (below), then per counter collection one ``update``
command of one merged statement per counter document (``Merged``: the batch's increments summed, its
entry ids pushed), then the release. Totals and tag totals go further (``counters_store``): an entry
adds the same to each of its totals, so the counters of a batch that take the same update (the same
entries, increments and tags) share one ``multi`` statement by ``{_id: {$in}}``, still guarded per
document; the embedded store spends about half as much on a document so updated as on a statement of
its own (its cost follows the statements, not the commands), and a counter missing is created with
zero counts by one ``insert_many`` and counted by the statement sent again. Which entries share a batch
never matters for correctness: every document is changed by one guarded single-document update. A
batch of any size costs an insert, three updates and the release.

Releasing. The ``points_changed`` events of the entries released together go into one document of
``ledger_releases`` (inserted first, so a crash before the entries are marked loses none: the
redelivery releases them again, and the repeated events keep their ids, which the stream's dedupe and
every consumer absorb), then the entries are marked ``released`` with one update. The relay publishes
one document per release instead of reading and clearing every entry; releases published a minute ago
are deleted by ``_id``. Entries released by earlier versions carry their events in their own outbox.

Crashes: the entry is inserted first (unreleased), counted into every counter, then released. A
redelivered event whose entry is released changes nothing. One whose entry is not (a crash in
between) is counted again from the stored entry (its amount as first recorded), each counter skipping
it if it holds it already, then released. Until released, an entry may be in only some of the
counters the rules read: handlers read the counters they decide on with ``target_state``, which tells
which of the event's entries they hold; those are finished (``resume``) rather than decided again.

Decisions on state (a reversal's amount, a once-only gain, a gain a removal forbids) are exact with
any number of replicas: the entry stores its ``Guard`` and is counted into the guarded counter first, by
an update whose filter also requires what the decision read. If another entry changed it in between,
that update matches nothing, the entry (still unreleased and counted nowhere) is deleted and
``StaleDecision`` tells the handler to read and decide again.

``MongoLedger`` is one store over the ledger and its counters; its jobs live in modules of their own
and are its bases: counting entries into counters (``counters_store``), reading them
(``standing_store``) and building them from the ledger (``ledger_migrations``). The counter
documents themselves are described in ``ledger_counters``; the events in ``outbound_events``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from guild_common.clock import utc_now
from guild_common.events.envelope import Envelope
from guild_common.events.outbox import OUTBOX, PENDING, SEQ, outbox_fields, outbox_indexes
from guild_common.mongo import Document, IndexSpec, StoreSchema
from guild_reputation.adapters import seen_writes
from guild_reputation.adapters.batched_writes import Batcher
from guild_reputation.adapters.counters_store import DUPLICATE_KEY, CountersStore
from guild_reputation.adapters.daily_caps_store import DAILY_CAPS, DailyCaps
from guild_reputation.adapters.ledger_documents import (
    ENTRY_FIELDS,
    LEDGER,
    TAG_TOTALS,
    TOTALS,
    Counter,
    counters_of,
    field_at,
    guard_match,
    push,
)
from guild_reputation.adapters.ledger_migrations import LedgerMigrations
from guild_reputation.adapters.outbound_events import points_changed
from guild_reputation.adapters.standing_store import TOTALS_JOURNAL, StandingStore
from guild_reputation.app.ports import Guard, StaleDecision
from guild_reputation.domain.periods import Calendar
from guild_reputation.domain.rules import LedgerEntry, Rule

# How often the guarded counter is tried again after emptying its slot of an older hour.
APPLY_ATTEMPTS = 3
# The ``points_changed`` events of entries released together, one document per release; entries
# released by earlier versions carry theirs in their own outbox (still published from there).
RELEASES = "ledger_releases"
# Published releases are deleted this long after they were written.
RELEASES_KEPT_SECONDS = 60.0
OUTBOX_COLLECTIONS = [LEDGER, RELEASES]
INDEXES = [
    # A member's entries in order: recounting and building the counters.
    IndexSpec(LEDGER, [("member_id", 1), ("time", 1), ("_id", 1)]),
    # Distinct targets per rule (the badges).
    IndexSpec(LEDGER, [("community_id", 1), ("member_id", 1), ("rule", 1), ("day", 1)]),
    IndexSpec(TOTALS, [("community_id", 1), ("points", -1)]),
    IndexSpec(TOTALS, [("period", 1), ("community_id", 1)]),
    # Totals written since a boards snapshot.
    IndexSpec(TOTALS, [("updated", 1)]),
    IndexSpec(TOTALS_JOURNAL, [("time", 1)]),
    IndexSpec(TAG_TOTALS, [("community_id", 1), ("tag", 1), ("points", -1), ("_id", -1)]),
    *outbox_indexes(OUTBOX_COLLECTIONS),
]
SCHEMA = StoreSchema(indexes=INDEXES, outbox_collections=OUTBOX_COLLECTIONS)
#: The events of an entry recorded in a region and programme.
EntryEvents = Callable[[LedgerEntry, str, str], list[Envelope]]


def _entry_from(doc: Document) -> LedgerEntry:
    time = doc["time"]
    return LedgerEntry(
        id=str(doc["_id"]),
        community_id=str(doc["community_id"]),
        member_id=str(doc["member_id"]),
        amount=int(doc["amount"]),
        rule=Rule(doc["rule"]),
        source_event_id=str(doc.get("source_event_id", "")),
        target_id=str(doc.get("target_id", "")),
        time=time if time.tzinfo else time.replace(tzinfo=UTC),
        actor_id=str(doc.get("actor_id", "")),
        tags=tuple(str(t) for t in doc.get("tags", [])),
    )


def _guard_of(doc: Document) -> Guard | None:
    stored = doc.get("guard")
    if not stored:
        return None
    value = stored.get("value")
    return Guard(str(stored["counter_id"]), str(stored["field"]), None if value is None else int(value))


class MongoLedger(CountersStore, StandingStore, LedgerMigrations):
    def __init__(
        self,
        db: AsyncDatabase[Document],
        on_events: Callable[..., None],
        calendar: Calendar | None = None,
        *,
        clock: Callable[[], datetime] = utc_now,
        events: EntryEvents = points_changed,
    ) -> None:
        """``clock``: the time counters are written at (their ``seen`` slots, the totals' ``updated``).
        ``events``: the events an entry's document carries, released with it."""
        calendar = calendar or Calendar()
        CountersStore.__init__(self, db, clock)
        StandingStore.__init__(self, db, calendar)
        LedgerMigrations.__init__(self, db)
        self._releases = db[RELEASES]
        self._written_releases: list[tuple[float, str]] = []
        self._last_prune = time.monotonic()
        self._on_events = on_events
        self._events = events
        # Entries recorded at the same time are written together.
        self._recorder: Batcher[Document, BaseException | None] = Batcher(self.record_many)
        self._caps = DailyCaps(db[DAILY_CAPS], calendar)

    async def record(
        self, entry: LedgerEntry, *, region: str, programme: str, guard: Guard | None = None
    ) -> None:
        """Record the entry with those recorded at the same time (``record_many``)."""
        error = await self._recorder.submit(self.entry_doc(entry, region, programme, guard))
        if error is not None:
            raise error

    async def append(
        self, entry: LedgerEntry, *, region: str, programme: str, guard: Guard | None = None
    ) -> tuple[Document, bool]:
        """Insert the entry unless its id is recorded; the stored entry, and whether it was inserted now."""
        doc = self.entry_doc(entry, region, programme, guard)
        try:
            await self._ledger.insert_one(doc)
            return doc, True
        except DuplicateKeyError:
            stored = await self._ledger.find_one({"_id": entry.id})
            if stored is None:  # deleted as stale meanwhile: decide again
                raise StaleDecision(entry.id) from None
            return stored, False

    def entry_doc(self, entry: LedgerEntry, region: str, programme: str, guard: Guard | None) -> Document:
        """The ledger document of an entry, unreleased, its ``points_changed`` event in it."""
        periods = self._calendar.periods(entry.time)
        doc = {
            "_id": entry.id,
            "community_id": entry.community_id,
            "member_id": entry.member_id,
            "amount": entry.amount,
            "rule": entry.rule.value,
            "reason": entry.reason,
            "actor_id": entry.actor_id,
            "source_event_id": entry.source_event_id,
            "target_id": entry.target_id,
            "tags": list(entry.tags),
            "time": entry.time,
            "day": self._calendar.day(entry.time),
            "week": periods.week,
            "month": periods.month,
            **outbox_fields(self._events(entry, region, programme)),
            PENDING: False,
            "released": False,
        }
        if guard is not None:
            # ``attempt`` names this decision: deleting it when stale never deletes a later one.
            doc["guard"] = {
                "counter_id": guard.counter_id,
                "field": guard.field,
                "value": guard.value,
                "attempt": uuid.uuid4().hex,
            }
        return doc

    async def record_many(self, docs: Sequence[Document]) -> list[BaseException | None]:
        """Record entries (documents of ``entry_doc``) together: per entry, ``None`` when it is
        recorded (now or before), else the error (``StaleDecision``) its recording raises.

        One ``insert_many`` of the entries (an id recorded before fails alone: one ``find`` reads
        those back), each decision's guarded counter, one merged update per counter document
        (``count_many``), one release. The same entry id twice counts once."""
        unique = list({str(doc["_id"]): doc for doc in reversed(docs)}.values())[::-1]
        existing: list[str] = []
        try:
            await self._ledger.insert_many(unique, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(error.get("code") != DUPLICATE_KEY for error in errors):
                raise
            existing = [str(unique[error["index"]]["_id"]) for error in errors]
        before = set(existing)
        stored = {str(doc["_id"]): doc for doc in unique if str(doc["_id"]) not in before}
        outcome: dict[str, BaseException] = {}
        if existing:
            found = {str(doc["_id"]): doc async for doc in self._ledger.find({"_id": {"$in": existing}})}
            for entry_id in existing:
                doc = found.get(entry_id)
                if doc is None:  # deleted as stale meanwhile: decide again
                    outcome[entry_id] = StaleDecision(entry_id)
                elif not doc.get("released", True):
                    stored[entry_id] = doc  # a crash left it unfinished: finish it as first recorded
        outcome.update(await self._finish_many(list(stored.values())))
        return [outcome.get(str(doc["_id"])) for doc in docs]

    async def _finish(self, stored: Document) -> None:
        """Count a stored entry (the guarded counter first), then release it."""
        failed = await self._finish_many([stored])
        if failed:
            raise next(iter(failed.values()))

    async def _finish_many(self, stored: Sequence[Document]) -> dict[str, BaseException]:
        """Count stored entries (each one's guarded counter first), then release them; the entries
        whose decision went stale (deleted, counted nowhere) with their error."""
        if not stored:
            return {}
        plain: list[tuple[str, list[Counter]]] = []
        guarded: list[tuple[Document, Counter, Guard]] = []
        for doc in stored:
            counters = counters_of(doc)
            guard = _guard_of(doc)
            first = next((c for c in counters if c.id == guard.counter_id), None) if guard else None
            if guard is not None and first is not None:
                guarded.append((doc, first, guard))
                counters = [c for c in counters if c is not first]
            plain.append((str(doc["_id"]), counters))
        failed: dict[str, BaseException] = {}
        if guarded:
            results = await asyncio.gather(
                *(self._apply_guarded(doc, counter, guard) for doc, counter, guard in guarded),
                return_exceptions=True,
            )
            for (doc, _, _), result in zip(guarded, results, strict=True):
                if isinstance(result, StaleDecision):
                    failed[str(doc["_id"])] = result
                elif isinstance(result, BaseException):
                    raise result
        ready = [(entry_id, counters) for entry_id, counters in plain if entry_id not in failed]
        await self.count_many(ready)
        await self.release_many([doc for doc in stored if str(doc["_id"]) not in failed])
        return failed

    async def _apply_guarded(self, stored: Document, counter: Counter, guard: Guard) -> None:
        """Apply the entry to the counter its decision read, if that still holds what was read; else
        delete the entry (counted nowhere yet) and raise ``StaleDecision``."""
        entry_id = str(stored["_id"])
        for _ in range(APPLY_ATTEMPTS):
            now = self._clock()
            hour = seen_writes.slot(now)[1]
            where, update = push(entry_id, counter, now)
            where = {**where, **guard_match(guard), seen_writes.hour_field(now): {"$in": [hour, None]}}
            try:
                result = await self._counters.update_one(where, update, upsert=guard.value is None)
                if result.modified_count or result.upserted_id is not None:
                    return
            except DuplicateKeyError:
                pass
            doc = await self._counters.find_one({"_id": counter.id})
            if seen_writes.holds(doc, entry_id):
                return  # applied by an earlier attempt at this entry
            if doc is None or field_at(doc, guard.field) != guard.value:
                break  # the decision's state is gone
            # The state holds (the counter was created meanwhile, or its slot is an older hour's: then
            # emptied): try again.
            held_hour = field_at(doc, seen_writes.hour_field(now))
            if held_hour not in (hour, None):
                await self._counters.update_one(*seen_writes.clear(counter.id, now, held_hour))
        # A guard that failed never holds again (counters only move on), so this decision is dead: its
        # entry goes (only this attempt's: another may have replaced it meanwhile).
        attempt = stored.get("guard", {}).get("attempt")
        await self._ledger.delete_one({"_id": entry_id, "released": False, "guard.attempt": attempt})
        raise StaleDecision(entry_id)

    async def release_many(self, entries: Sequence[Document]) -> None:
        """Mark stored entries counted and hand their ``points_changed`` events to the relay: one
        document holding the events (written first, so a crash before the entries are marked loses
        none: their redelivery releases them again, and the repeated events keep their ids, which
        the stream's dedupe and every consumer absorb), then one update of the entries."""
        if not entries:
            return
        ids = [str(doc["_id"]) for doc in entries]
        events = [event for doc in entries for event in doc.get(OUTBOX, [])]
        release_id = ""
        if events:
            release_id = uuid.uuid4().hex
            await self._releases.insert_one(
                {
                    "_id": release_id,
                    "time": self._clock(),
                    "entries": ids,
                    OUTBOX: events,
                    PENDING: True,
                    SEQ: 1,
                }
            )
        await self._ledger.update_many({"_id": {"$in": ids}, "released": False}, {"$set": {"released": True}})
        if release_id:
            # Named, so the relay publishes it by _id rather than sweeping.
            self._on_events(RELEASES, release_id)
            self._written_releases.append((time.monotonic(), release_id))
            await self._prune_releases()

    async def _prune_releases(self) -> None:
        """Delete the published releases this ledger wrote a while ago (by ``_id``), once in a while."""
        now = time.monotonic()
        if now - self._last_prune < RELEASES_KEPT_SECONDS:
            return
        self._last_prune = now
        old = [i for at, i in self._written_releases if now - at >= RELEASES_KEPT_SECONDS]
        if not old:
            return
        await self._releases.delete_many({"_id": {"$in": old}, PENDING: False})
        pending = {
            doc["_id"] async for doc in self._releases.find({"_id": {"$in": old}, PENDING: True}, {"_id": 1})
        }
        gone = set(old) - pending
        self._written_releases = [(at, i) for at, i in self._written_releases if i not in gone]

    async def resume(self, entry_ids: Collection[str]) -> list[LedgerEntry]:
        """Finish the entries among ``entry_ids`` left recorded but unreleased by a crash (counted as
        first recorded, then released); the entries it finished."""
        if not entry_ids:
            return []
        docs = await self._ledger.find(
            {"_id": {"$in": list(entry_ids)}, "released": False},
            {**ENTRY_FIELDS, "source_event_id": 1, OUTBOX: 1},
        ).to_list()
        docs.sort(key=lambda d: str(d["_id"]))
        failed = await self._finish_many(docs)
        if failed:
            raise next(iter(failed.values()))
        return [_entry_from(doc) for doc in docs]

    async def reserve_daily(self, entry: LedgerEntry, cap: int) -> int:
        return await self._caps.reserve(entry, cap)

    async def unreserve_daily(self, entry: LedgerEntry) -> None:
        await self._caps.release(entry)
