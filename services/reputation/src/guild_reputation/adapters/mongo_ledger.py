"""The points ledger and the counters derived from it, in MongoDB.

A ledger entry's ``_id`` is ``<event id>:<rule>`` (or another natural key): inserting it is the
idempotency check (``DuplicateKeyError``: recorded before). Each entry carries its day, week and month
in the configured time zone, and the tags of the post it is about (a reversal those of the entries it
takes back).

Everything derived from the entries is a counter document addressed by ``_id``, so recording an entry
and every lookup the rules make cost the same whatever the ledger's size:

- ``totals``: points and entries per (board, period, member), board a community or ``*`` (global),
  period ``all``, the entry's week or its month; the leaderboards are built from them. ``updated``, the
  latest time one was written, lets a replica starting from a boards snapshot read only those since;
- ``tag_totals``: points per (community, tag, member), serving the members with most points on a tag;
- ``ledger_counters``: points per (community, member, rule, day); and per (community, member, target)
  and (community, member, target, actor) the points and entries under each rule and the tags recorded,
  for reversals, once-only rules and the tags reversals carry; and per (community, member, rule) of
  ``DISTINCT_TARGET_RULES`` the distinct targets, for the mentor badge (counted once per target: the
  target ids themselves are the guard, a set as small as the count).

Recording in batches. The handlers of a consumer's batch run at once; the entries they record while
the previous batch is being written are written together (``record_many``, fed by ``record`` through a
``Batcher``): one unordered ``insert_many`` (an id recorded before fails alone, and one ``find`` reads
those back), each decision's guarded counter (below), then per counter collection one ``update``
command of one merged statement per counter document (``Merged``: the batch's increments summed, its
entry ids pushed), then the release. Totals and tag totals go further (``_count_shared``): an entry
adds the same to each of its totals, so the counters of a batch that take the same update (the same
entries, increments and tags) share one ``multi`` statement by ``{_id: {$in}}``, still guarded per
document; the embedded store spends about half as much on a document so updated as on a statement of
its own (its cost follows the statements, not the commands), and a counter missing is created with
zero counts by one ``insert_many`` and counted by the statement sent again. Which entries share a batch
never matters for correctness: every document is changed by one guarded single-document update. A
batch of any size costs an insert, three updates and the release.

Counting once. Each counter is applied an entry by an update whose filter says it does not hold the
entry yet: the counter keeps the ids it was applied in ``seen``, in two slots by the hour of writing
(``seen.a`` for even hours, ``seen.b`` for odd ones, ``seen.ha``/``seen.hb`` the hour each holds). A
merged statement is an upsert guarded by "holds none of these ids, and this hour's slot is this hour's
or empty": replayed, or meeting a slot still holding an older hour's ids (how old ids are forgotten),
or another writer creating the counter at once, it fails with a duplicate key, which ends the command
(the embedded store stops at the first failed statement of any ``update`` and does not say which).
Then the batch's counters are read back (one ``find``): those holding all their entries are done, and
each entry a counter does not hold is applied on its own by the safe form (``_updates``: an upsert
creating the counter if missing, an update emptying this hour's slot if it holds an older hour's ids,
then the ``$inc`` and ``$push`` of the entry guarded by "not held", none of which can fail). A
redelivery within an hour of the first attempt is therefore never counted twice, far longer than
JetStream redelivers an unacknowledged message (``max_deliver`` x (``ack_wait`` + backoff): minutes).

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

The slow path, ``recount_member``, recomputes a member's counters from the ledger (what the fast path
must equal, checked by the tests); ``migrate_counters`` builds the counters of entries recorded before
they existed, once per database, at start.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

from guild.events.v1 import reputation_events_pb2 as pb
from guild_common.clock import utc_now
from guild_common.events.envelope import Envelope, new_envelope
from guild_common.events.outbox import (
    OUTBOX,
    PENDING,
    SEQ,
    current_trace_headers,
    merge_updates,
    outbox_fields,
    outbox_indexes,
)
from guild_common.keyset import keyset_page
from guild_common.mongo import Document, IndexSpec, StoreSchema
from guild_reputation.adapters import seen
from guild_reputation.adapters.batching import Batcher
from guild_reputation.adapters.mongo_daily_caps import DAILY_CAPS, DailyCaps
from guild_reputation.app.ports import Guard, StaleDecision, TagTotal, TargetState, Total
from guild_reputation.domain.periods import ALL_TIME, GLOBAL, Calendar
from guild_reputation.domain.rules import LedgerEntry, Rule

LEDGER = "ledger"
TOTALS = "totals"
# One per (community, tag, member): points earned by entries about posts with the tag.
TAG_TOTALS = "tag_totals"
META = "ledger_meta"
_PERIODS_MIGRATION = "totals_have_periods"
# Per ledger entry, the totals it gave (written by earlier versions; pruned after snapshots).
TOTALS_JOURNAL = "totals_journal"
# Daily, per-target and per-(target, actor) counters, each addressed by its ``_id`` only.
COUNTERS = "ledger_counters"
_COUNTERS_MIGRATION = "counters_from_ledger"
DUPLICATE_KEY = 11000
# Counter collections whose counters an entry adds the same to (counted by shared statements).
SHARED = frozenset({TOTALS, TAG_TOTALS})
# How often the guarded counter is tried again after emptying its slot of an older hour.
APPLY_ATTEMPTS = 3
# Rules whose distinct targets per member are counted (in ``ledger_counters``): the mentor badge's.
DISTINCT_TARGET_RULES = frozenset({Rule.ANSWER_ACCEPTED.value})
# What counting reads of an entry.
_ENTRY_FIELDS = {
    name: 1
    for name in (
        "community_id",
        "member_id",
        "amount",
        "rule",
        "target_id",
        "actor_id",
        "tags",
        "day",
        "week",
        "month",
        "time",
        "guard",
    )
}
_TOTAL_FIELDS = {"community_id": 1, "member_id": 1, "points": 1, "period": 1, "entries": 1}
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


def total_id(community_id: str, period: str, member_id: str) -> str:
    """All-time community totals keep their original ``<community>:<member>`` id."""
    if period == ALL_TIME and community_id != GLOBAL:
        return f"{community_id}:{member_id}"
    return f"{community_id}|{period}|{member_id}"


def tag_total_id(community_id: str, tag: str, member_id: str) -> str:
    return f"{community_id}|{tag}|{member_id}"


def day_counter_id(community_id: str, member_id: str, rule: str, day: str) -> str:
    return f"day|{community_id}|{member_id}|{rule}|{day}"


def targets_counter_id(community_id: str, member_id: str, rule: str) -> str:
    return f"targets|{community_id}|{member_id}|{rule}"


def target_counter_id(community_id: str, member_id: str, target_id: str) -> str:
    return f"target|{community_id}|{member_id}|{target_id}"


def actor_counter_id(community_id: str, member_id: str, target_id: str, actor_id: str) -> str:
    return f"actor|{community_id}|{member_id}|{target_id}|{actor_id}"


@dataclass(frozen=True)
class Counter:
    """One counter an entry counts in: where, what identifies it, what the entry adds."""

    collection: str
    id: str
    fields: Document
    increments: dict[str, int]
    tags: tuple[str, ...] = field(default=())
    # Counted once per value (kept in ``targets``) rather than once per entry (kept in ``applied``).
    once_per: str = ""


def counters_of(entry: Document) -> list[Counter]:
    """The counters a stored ledger entry counts in."""
    community_id, member_id = str(entry["community_id"]), str(entry["member_id"])
    amount, rule = int(entry["amount"]), str(entry["rule"])
    tags = tuple(str(t) for t in entry.get("tags", []))
    adds = {"points": amount, "entries": 1}
    counters = [
        Counter(
            TOTALS,
            total_id(board, period, member_id),
            {"community_id": board, "period": period, "member_id": member_id},
            adds,
        )
        for board in (community_id, GLOBAL)
        for period in (ALL_TIME, str(entry["week"]), str(entry["month"]))
    ]
    counters += [
        Counter(
            TAG_TOTALS,
            tag_total_id(community_id, tag, member_id),
            {"community_id": community_id, "tag": tag, "member_id": member_id},
            adds,
        )
        for tag in dict.fromkeys(tags)
    ]
    day = str(entry["day"])
    counters.append(
        Counter(
            COUNTERS,
            day_counter_id(community_id, member_id, rule, day),
            {"kind": "day", "community_id": community_id, "member_id": member_id, "rule": rule, "day": day},
            adds,
        )
    )
    target_id, actor_id = str(entry.get("target_id", "")), str(entry.get("actor_id", ""))
    if target_id:
        by_rule = {f"rules.{rule}.points": amount, f"rules.{rule}.count": 1, "entries": 1}
        identity = {"community_id": community_id, "member_id": member_id, "target_id": target_id}
        counters.append(
            Counter(
                COUNTERS,
                target_counter_id(community_id, member_id, target_id),
                {"kind": "target", **identity},
                by_rule,
                tags,
            )
        )
        if rule in DISTINCT_TARGET_RULES:
            counters.append(
                Counter(
                    COUNTERS,
                    targets_counter_id(community_id, member_id, rule),
                    {"kind": "targets", "community_id": community_id, "member_id": member_id, "rule": rule},
                    {"count": 1},
                    once_per=target_id,
                )
            )
        if actor_id:
            counters.append(
                Counter(
                    COUNTERS,
                    actor_counter_id(community_id, member_id, target_id, actor_id),
                    {"kind": "actor", **identity, "actor_id": actor_id},
                    by_rule,
                    tags,
                )
            )
    return counters


def tally(entries: Iterable[Document]) -> dict[tuple[str, str], Document]:
    """The counters the entries make, computed from scratch: per (collection, ``_id``), the document
    the fast path keeps, without its bookkeeping (``seen``, ``updated``; tags and targets sorted)."""
    out: dict[tuple[str, str], Document] = {}
    for entry in entries:
        for counter in counters_of(entry):
            doc = out.setdefault((counter.collection, counter.id), {"_id": counter.id, **counter.fields})
            if counter.once_per:
                targets = doc.setdefault("targets", [])
                if counter.once_per not in targets:
                    doc["targets"] = sorted([*targets, counter.once_per])
                    doc["count"] = doc.get("count", 0) + 1
                continue
            for path, value in counter.increments.items():
                *parents, leaf = path.split(".")
                node = doc
                for name in parents:
                    node = node.setdefault(name, {})
                node[leaf] = node.get(leaf, 0) + value
            if counter.tags:
                doc["tags"] = sorted(set(doc.get("tags", [])) | set(counter.tags))
    return out


@dataclass
class Merged:
    """The entries of a batch counted in one counter document, as one update: their increments summed,
    their ids (or, for a ``once_per`` counter, their distinct values) pushed, guarded by "holds none of
    them yet" (and, as one upsert, creating the counter if missing)."""

    counter: Counter
    applied: list[tuple[str, Counter]] = field(default_factory=list)
    increments: dict[str, int] = field(default_factory=dict)
    tags: dict[str, None] = field(default_factory=dict)
    values: dict[str, None] = field(default_factory=dict)

    def add(self, entry_id: str, counter: Counter) -> None:
        if any(entry_id == applied for applied, _ in self.applied):
            return  # the same entry twice counts once
        if counter.once_per and counter.once_per in self.values:
            return  # a value counts once
        self.applied.append((entry_id, counter))
        if counter.once_per:
            self.values[counter.once_per] = None
            return
        for path, value in counter.increments.items():
            self.increments[path] = self.increments.get(path, 0) + value
        self.tags.update(dict.fromkeys(counter.tags))

    def statement(self, now: datetime) -> Document:
        """The ``update`` command statement applying every entry at once."""
        counter = self.counter
        if counter.once_per:
            values = list(self.values)
            return {
                "q": {"_id": counter.id, "targets": {"$nin": values}},
                "u": {
                    "$set": counter.fields,
                    "$inc": {"count": len(values)},
                    "$push": {"targets": {"$each": values}},
                },
                "upsert": True,
            }
        ids = [entry_id for entry_id, _ in self.applied]
        name, hour = seen.slot(now)
        update: Document = {
            "$set": {**counter.fields, seen.hour_field(now): hour},
            "$inc": self.increments,
            "$push": {f"{seen.SEEN}.{name}": {"$each": ids}},
        }
        if self.tags:
            update["$addToSet"] = {"tags": {"$each": list(self.tags)}}
        if counter.collection == TOTALS:
            update["$max"] = {"updated": now}
        return {
            "q": {"_id": counter.id, **seen.none_of(ids), seen.hour_field(now): {"$in": [hour, None]}},
            "u": update,
            "upsert": True,
        }

    def signature(self) -> tuple[Any, ...]:
        """What the update of this counter is, apart from its ``_id``: counters of equal signature
        take one ``multi`` statement (a totals counter is not ``once_per``)."""
        ids = tuple(entry_id for entry_id, _ in self.applied)
        return ids, tuple(sorted(self.increments.items())), tuple(self.tags)

    def shared_statement(self, counter_ids: Sequence[str], now: datetime) -> Document:
        """The statement applying this update to every counter of ``counter_ids`` (of equal
        signature, existing), each unless it holds one of the entries or its slot of this hour holds
        an older hour's ids; none can fail (a counter it does not match is left as it is)."""
        ids = [entry_id for entry_id, _ in self.applied]
        name, hour = seen.slot(now)
        update: Document = {
            "$set": {seen.hour_field(now): hour},
            "$inc": self.increments,
            "$push": {f"{seen.SEEN}.{name}": {"$each": ids}},
        }
        if self.tags:
            update["$addToSet"] = {"tags": {"$each": list(self.tags)}}
        if self.counter.collection == TOTALS:
            update["$max"] = {"updated": now}
        where = {"_id": {"$in": list(counter_ids)}, **seen.none_of(ids)}
        return {"q": {**where, seen.hour_field(now): {"$in": [hour, None]}}, "u": update, "multi": True}

    def initial(self) -> Document:
        """The counter as created before anything is counted in it: its identity, zero counts."""
        doc: Document = {"_id": self.counter.id, **self.counter.fields}
        for path in self.increments:
            *parents, leaf = path.split(".")
            node = doc
            for name in parents:
                node = node.setdefault(name, {})
            node[leaf] = 0
        return doc


def _holds(doc: Document | None, entry_id: str, counter: Counter) -> bool:
    """Whether the stored counter has the entry counted (its value, for a ``once_per`` counter)."""
    if counter.once_per:
        return bool(doc) and counter.once_per in (doc or {}).get("targets", [])
    return seen.holds(doc, entry_id)


def _guard_match(guard: Guard) -> Document:
    return {guard.field: {"$exists": False} if guard.value is None else guard.value}


def _push(entry_id: str, counter: Counter, now: datetime) -> tuple[Document, Document]:
    """Filter and update applying the entry to the counter unless it holds it."""
    if counter.once_per:
        return (
            {"_id": counter.id, "targets": {"$ne": counter.once_per}},
            {"$set": counter.fields, "$inc": counter.increments, "$push": {"targets": counter.once_per}},
        )
    update = merge_updates({"$set": counter.fields, "$inc": counter.increments}, seen.push(entry_id, now))
    if counter.tags:
        update["$addToSet"] = {"tags": {"$each": list(counter.tags)}}
    if counter.collection == TOTALS:
        update["$max"] = {"updated": now}
    return {"_id": counter.id, **seen.unseen(entry_id)}, update


def _updates(entry_id: str, counter: Counter, now: datetime) -> list[UpdateOne]:
    """The updates applying the entry to the counter once, none of which can fail: the counter created
    if missing (an upsert on the ``_id`` alone, which MongoDB retries itself when two race and the
    embedded store serialises), the slot of this hour emptied if it holds an older hour's ids, then the
    entry counted unless held (a counter holding it matches nothing)."""
    create = UpdateOne({"_id": counter.id}, {"$setOnInsert": counter.fields}, upsert=True)
    push = UpdateOne(*_push(entry_id, counter, now))
    return [create, push] if counter.once_per else [create, UpdateOne(*seen.clear(counter.id, now)), push]


def _field(doc: Mapping[str, Any], path: str) -> Any:
    node: Any = doc
    for name in path.split("."):
        node = node.get(name) if isinstance(node, Mapping) else None
    return node


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


def _points_changed(entry: LedgerEntry, region: str, programme: str) -> list[Envelope]:
    time = Timestamp()
    time.FromDatetime(entry.time)
    headers = current_trace_headers()
    return [
        new_envelope(
            service="reputation",
            name="points_changed",
            payload=pb.PointsChanged(
                entry_id=entry.id,
                community_id=entry.community_id,
                member_id=entry.member_id,
                amount=entry.amount,
                rule=entry.rule.value,
                source_event_id=entry.source_event_id,
                target_id=entry.target_id,
                time=time,
                tags=list(entry.tags),
            ),
            subject=entry.member_id,
            region=region,
            programme=programme,
            traceparent=headers.get("traceparent", ""),
            tracestate=headers.get("tracestate", ""),
        )
    ]


class MongoLedger:
    def __init__(
        self,
        db: AsyncDatabase[Document],
        on_events: Callable[..., None],
        calendar: Calendar | None = None,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """``clock``: the time counters are written at (their ``seen`` slots, the totals' ``updated``)."""
        self._journal_docs = db[TOTALS_JOURNAL]
        self._ledger = db[LEDGER]
        self._totals = db[TOTALS]
        self._tag_totals = db[TAG_TOTALS]
        self._counters = db[COUNTERS]
        self._collections: dict[str, AsyncCollection[Document]] = {
            TOTALS: self._totals,
            TAG_TOTALS: self._tag_totals,
            COUNTERS: self._counters,
        }
        self._meta = db[META]
        self._releases = db[RELEASES]
        self._written_releases: list[tuple[float, str]] = []
        self._last_prune = time.monotonic()
        self._db = db
        self._on_events = on_events
        # Entries recorded at the same time are written together; so are reads of counters by _id.
        self._recorder: Batcher[Document, BaseException | None] = Batcher(self.record_many)
        self._reads: dict[str, Batcher[list[str], dict[str, Document]]] = {
            name: Batcher(self._reader(name)) for name in (TOTALS, COUNTERS)
        }
        self._calendar = calendar or Calendar()
        self._caps = DailyCaps(db[DAILY_CAPS], self._calendar)
        self._clock = clock

    # --- recording ----------------------------------------------------------------------------------

    async def record(
        self, entry: LedgerEntry, *, region: str, programme: str, guard: Guard | None = None
    ) -> None:
        """Record the entry with those recorded at the same time (``record_many``)."""
        error = await self._recorder.submit(self._entry_doc(entry, region, programme, guard))
        if error is not None:
            raise error

    async def append(
        self, entry: LedgerEntry, *, region: str, programme: str, guard: Guard | None = None
    ) -> tuple[Document, bool]:
        """Insert the entry unless its id is recorded; the stored entry, and whether it was inserted now."""
        doc = self._entry_doc(entry, region, programme, guard)
        try:
            await self._ledger.insert_one(doc)
            return doc, True
        except DuplicateKeyError:
            stored = await self._ledger.find_one({"_id": entry.id})
            if stored is None:  # deleted as stale meanwhile: decide again
                raise StaleDecision(entry.id) from None
            return stored, False

    def _entry_doc(self, entry: LedgerEntry, region: str, programme: str, guard: Guard | None) -> Document:
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
            **outbox_fields(_points_changed(entry, region, programme)),
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
        """Record entries (documents of ``_entry_doc``) together: per entry, ``None`` when it is
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
            hour = seen.slot(now)[1]
            where, update = _push(entry_id, counter, now)
            where = {**where, **_guard_match(guard), seen.hour_field(now): {"$in": [hour, None]}}
            try:
                result = await self._counters.update_one(where, update, upsert=guard.value is None)
                if result.modified_count or result.upserted_id is not None:
                    return
            except DuplicateKeyError:
                pass
            doc = await self._counters.find_one({"_id": counter.id})
            if seen.holds(doc, entry_id):
                return  # applied by an earlier attempt at this entry
            if doc is None or _field(doc, guard.field) != guard.value:
                break  # the decision's state is gone
            # The state holds (the counter was created meanwhile, or its slot is an older hour's: then
            # emptied): try again.
            held_hour = _field(doc, seen.hour_field(now))
            if held_hour not in (hour, None):
                await self._counters.update_one(*seen.clear(counter.id, now, held_hour))
        # A guard that failed never holds again (counters only move on), so this decision is dead: its
        # entry goes (only this attempt's: another may have replaced it meanwhile).
        attempt = stored.get("guard", {}).get("attempt")
        await self._ledger.delete_one({"_id": entry_id, "released": False, "guard.attempt": attempt})
        raise StaleDecision(entry_id)

    async def count(self, entry_id: str, counters: Sequence[Counter]) -> None:
        """Apply the entry to the counters (skipping those holding it): one ``bulk_write`` per
        collection of updates none of which can fail, not read back."""
        now = self._clock()
        await self._count_each(now, [(entry_id, counter) for counter in counters])

    async def _count_each(self, now: datetime, applied: Sequence[tuple[str, Counter]]) -> None:
        """Apply each (entry id, counter) on its own (``_updates``), one ordered ``bulk_write`` per
        collection."""
        by_collection: dict[str, list[UpdateOne]] = {}
        for entry_id, counter in applied:
            by_collection.setdefault(counter.collection, []).extend(_updates(entry_id, counter, now))
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
        and the entries the others do not hold are applied one by one (``_updates``)."""
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
            if not _holds(docs.get(item.counter.id), entry_id, counter)
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
        entries the others do not hold are applied one by one (``_updates``), each still guarded."""
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
            if not _holds(docs.get(item.counter.id), entry_id, counter)
        ]
        await self._count_each(now, missing)

    async def apply(self, entry_id: str, counter: Counter) -> bool:
        """Apply the entry to one counter; False when it held it already."""
        if seen.holds(await self._collections[counter.collection].find_one({"_id": counter.id}), entry_id):
            return False
        await self.count(entry_id, [counter])
        return True

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
            {**_ENTRY_FIELDS, "source_event_id": 1, OUTBOX: 1},
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

    # --- reading ------------------------------------------------------------------------------------

    def _reader(self, name: str) -> Callable[[list[list[str]]], Awaitable[list[dict[str, Document]]]]:
        """Reads of counters by ``_id`` made at the same time, as one ``find``: each gets its own."""
        projection = _TOTAL_FIELDS if name == TOTALS else None

        async def read(requests: list[list[str]]) -> list[dict[str, Document]]:
            ids = list(dict.fromkeys(i for request in requests for i in request))
            found = {
                doc["_id"]: doc
                async for doc in self._collections[name].find({"_id": {"$in": ids}}, projection)
            }
            return [{i: found[i] for i in request if i in found} for request in requests]

        return read

    async def target_state(
        self, community_id: str, member_id: str, target_id: str, actor_id: str, entry_ids: Collection[str]
    ) -> TargetState:
        target = target_counter_id(community_id, member_id, target_id)
        actor = actor_counter_id(community_id, member_id, target_id, actor_id) if actor_id else ""
        docs = await self._reads[COUNTERS].submit([i for i in (target, actor) if i])
        held = frozenset(i for i in entry_ids for doc in docs.values() if seen.holds(doc, i))
        return TargetState(target, actor, docs.get(target, {}), docs.get(actor, {}) if actor else {}, held)

    async def top_by_tag(
        self, community_id: str, tag: str, page_size: int, page_token: str
    ) -> tuple[list[TagTotal], str]:
        docs, token = await keyset_page(
            self._tag_totals,
            {"community_id": community_id, "tag": tag, "points": {"$gt": 0}},
            sort_field="points",
            descending=True,
            page_size=page_size,
            page_token=page_token,
            projection={"member_id": 1, "points": 1},
        )
        return [TagTotal(community_id, tag, str(d["member_id"]), int(d["points"])) for d in docs], token

    async def _target(self, community_id: str, member_id: str, target_id: str, actor_id: str) -> Document:
        """The counter of the member's entries about ``target_id`` (caused by ``actor_id`` if given)."""
        _id = actor_counter_id(community_id, member_id, target_id, actor_id) if actor_id else None
        doc = await self._counters.find_one(
            {"_id": _id or target_counter_id(community_id, member_id, target_id)}
        )
        return doc or {}

    async def tags_for_target(self, community_id: str, member_id: str, target_id: str) -> list[str]:
        """Every tag the member's entries about ``target_id`` were recorded with."""
        doc = await self._target(community_id, member_id, target_id, "")
        return sorted(str(t) for t in doc.get("tags", []))

    async def count_for_target(
        self, community_id: str, member_id: str, target_id: str, rule: Rule, actor_id: str = ""
    ) -> int:
        doc = await self._target(community_id, member_id, target_id, actor_id)
        return int(doc.get("rules", {}).get(rule.value, {}).get("count", 0))

    async def net_for_target(
        self, community_id: str, member_id: str, target_id: str, rules: list[Rule], actor_id: str = ""
    ) -> int:
        by_rule = (await self._target(community_id, member_id, target_id, actor_id)).get("rules", {})
        return sum(int(by_rule.get(rule.value, {}).get("points", 0)) for rule in rules)

    async def has_entry(
        self,
        community_id: str,
        member_id: str,
        target_id: str,
        rule: Rule,
        actor_id: str = "",
        other_than: str = "",
    ) -> bool:
        doc = await self._target(community_id, member_id, target_id, actor_id)
        count = int(doc.get("rules", {}).get(rule.value, {}).get("count", 0))
        if other_than and seen.holds(doc, other_than):
            count -= 1  # ``other_than`` is one of them
        return count > 0

    async def distinct_targets(self, community_id: str, member_id: str, rule: str) -> int:
        """How many different targets earned the member an entry under ``rule`` (one of
        ``DISTINCT_TARGET_RULES``)."""
        doc = await self._counters.find_one(
            {"_id": targets_counter_id(community_id, member_id, rule)}, {"count": 1}
        )
        return int(doc["count"]) if doc else 0

    async def earned_on(self, community_id: str, member_id: str, rule: Rule, moment: datetime) -> int:
        _id = day_counter_id(community_id, member_id, rule.value, self._calendar.day(moment))
        doc = await self._counters.find_one({"_id": _id}, {"points": 1})
        return int(doc["points"]) if doc else 0

    async def stored_totals(self, community_id: str, member_id: str, moment: datetime) -> list[Total]:
        periods = self._calendar.periods(moment)
        ids = [total_id(b, p, member_id) for b in (community_id, GLOBAL) for p in periods.names()]
        found = await self._reads[TOTALS].submit(ids)
        docs = [found[i] for i in ids if i in found]
        return [
            Total(
                doc["community_id"],
                doc["member_id"],
                int(doc["points"]),
                doc.get("period", ALL_TIME),
                int(doc.get("entries", 0)),
            )
            for doc in docs
        ]

    async def migrate_totals(self) -> bool:
        """Give totals stored before periods existed their ``all`` period, once per database; True when
        it did (boards snapshots taken before do not show them)."""
        if await self._meta.find_one({"_id": _PERIODS_MIGRATION}) is not None:
            return False
        await self._totals.update_many({"period": {"$exists": False}}, {"$set": {"period": ALL_TIME}})
        try:
            await self._meta.insert_one({"_id": _PERIODS_MIGRATION})
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
            bookkeeping = {seen.SEEN: 0, seen.LEGACY_APPLIED: 0, "updated": 0}
            async for doc in self._collections[collection].find({"_id": {"$in": ids}}, bookkeeping):
                for name in ("tags", "targets"):
                    if name in doc:
                        doc[name] = sorted(doc[name])
                out[(collection, doc["_id"])] = doc
        return out

    async def _entries(self, match: Document) -> list[Document]:
        docs = await self._ledger.find(match, _ENTRY_FIELDS).to_list()
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
        if await self._meta.find_one({"_id": _COUNTERS_MIGRATION}) is not None:
            return 0
        written = 0
        member_id: str | None = None
        entries: list[Document] = []
        cursor = self._ledger.find({}, _ENTRY_FIELDS).sort([("member_id", 1), ("time", 1), ("_id", 1)])
        async for entry in cursor.batch_size(10_000):
            if entry["member_id"] != member_id:
                written += await self._keep_counters(tally(entries))
                member_id, entries = entry["member_id"], []
            entries.append(entry)
        written += await self._keep_counters(tally(entries))
        try:
            await self._meta.insert_one({"_id": _COUNTERS_MIGRATION})
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
                        seen.LEGACY_APPLIED: {"$exists": False},
                        seen.SEEN: {"$exists": False},
                    }
                    await target.update_one({"_id": _id, **counted_by_entries}, {"$set": values}, upsert=True)
                written += 1
            except DuplicateKeyError:
                pass  # kept by counting already
        return written

    async def totals(self, periods: Collection[str]) -> AsyncIterator[Total]:
        projection = {"_id": 0, "community_id": 1, "member_id": 1, "points": 1, "period": 1}
        async for doc in self._totals.find({"period": {"$in": list(periods)}}, projection).batch_size(10_000):
            yield Total(doc["community_id"], doc["member_id"], int(doc["points"]), doc["period"])

    async def totals_changed_since(self, periods: Collection[str], since: datetime) -> AsyncIterator[Total]:
        """The totals of the given periods written at or after ``since`` (their ``updated``)."""
        query = {"updated": {"$gte": since}, "period": {"$in": list(periods)}}
        async for doc in self._totals.find(query, _TOTAL_FIELDS).batch_size(10_000):
            yield Total(
                doc["community_id"],
                doc["member_id"],
                int(doc["points"]),
                doc["period"],
                int(doc.get("entries", 0)),
            )

    async def prune_journal(self, before: datetime) -> int:
        """Forget totals journaled by earlier versions older than ``before``; how many."""
        result = await self._journal_docs.delete_many({"time": {"$lt": before}})
        return result.deleted_count
