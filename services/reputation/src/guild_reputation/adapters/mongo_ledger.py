"""The points ledger and the counters derived from it, in MongoDB.

A ledger entry's ``_id`` is ``<event id>:<rule>`` (or another natural key), so a redelivered event
cannot count twice. Each entry carries its day, week and month in the configured time zone, and the
tags of the post it is about (a reversal those of the entries it takes back).

Everything derived from the entries is a counter document addressed by ``_id``, so recording an entry
and every lookup the rules make cost the same whatever the ledger's size (on FerretDB any other filter
reads the whole collection; on MongoDB it would still cost O(the member's entries) per event):

- ``totals``: points and entries per (board, period, member), board a community or ``*`` (global),
  period ``all``, the entry's week or its month; the leaderboards are built from them;
- ``tag_totals``: points per (community, tag, member), serving the members with most points on a tag;
- ``ledger_counters``: points per (community, member, rule, day), for the daily caps; and per
  (community, member, target) and (community, member, target, actor) the points and entries under each
  rule and the tags recorded, for reversals, once-only rules and the tags reversals carry; and per
  (community, member, rule) of ``DISTINCT_TARGET_RULES`` the distinct targets, for the mentor badge
  (counted once per target: the target ids themselves are the guard, a set as small as the count).

Each counter is applied an entry with one conditional increment,
``{_id: counter, applied: {$ne: entry}}`` → ``$inc`` the amounts and ``$push`` the entry's id onto
``applied`` (upserting), under ``document_lock`` (FerretDB 1.24 updates are read-modify-write; MongoDB's
are atomic). A counter holding the entry already does not match, and the upsert's insert then fails on
the ``_id``: the entry is not counted twice. ``applied`` keeps the last ``RECENT`` ids at least (trimmed
by a guarded ``$set`` once it holds half as many more: FerretDB 1.24 ignores ``$push``'s ``$slice``).

Crashes: the entry is inserted first, counted into every counter, then marked ``released`` with its
``points_changed`` event. A redelivered event whose entry is released changes nothing. One whose entry
is not (a crash in between) is counted again from the stored entry (its amount as first recorded,
whatever the rules say now), each counter skipping it if it holds it already, then released. This is
exact as long as a counter has not been applied ``RECENT`` more entries since: the redelivery of an
unacknowledged message comes within the consumer's ``max_deliver`` deliveries of ``ack_wait`` plus
backoff (6 x (30 s + at most 30 s) by default, a few minutes), and a counter gets 100 entries in a few
minutes only from one member's flood, which the daily caps do not stop but which is far beyond any
member's activity. Until it is released, an entry is in the ledger but may be in only some of the
counters the rules read. The handlers therefore ``resume`` their event's unreleased entries (an ``_id``
read) before any check: a check reading a counter the entry is in already (a reversal's target, a
rater's credit) would otherwise turn the redelivery away and leave the entry unreleased for good.

The slow path, ``recount_member``, recomputes a member's counters from the ledger (what the fast path
must equal, checked by the tests); ``migrate_counters`` builds the counters of entries recorded before
they existed, once per database, at start.

The entry's ``points_changed`` event is released to the outbox only after the counters are written, so
a replica that sees the event reads totals that include the entry.

Each entry also journals the totals it gave, with the time they were written, in ``totals_journal``:
a replica starting from a boards snapshot reads only that (small, pruned after each snapshot)
journal rather than one total per member.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild.events.v1 import reputation_events_pb2 as pb
from guild_common.clock import utc_now
from guild_common.doclocks import document_lock
from guild_common.events.envelope import Envelope, new_envelope
from guild_common.events.outbox import PENDING, current_trace_headers, outbox_fields, outbox_indexes
from guild_common.keyset import keyset_page
from guild_common.mongo import Document, IndexSpec
from guild_reputation.app.ports import TagTotal, Total
from guild_reputation.domain.periods import ALL_TIME, GLOBAL, Calendar
from guild_reputation.domain.rules import LedgerEntry, Rule

LEDGER = "ledger"
TOTALS = "totals"
# One per (community, tag, member): points earned by entries about posts with the tag.
TAG_TOTALS = "tag_totals"
META = "ledger_meta"
_PERIODS_MIGRATION = "totals_have_periods"
# Per ledger entry, the totals it gave and when they were written: read at start over a boards snapshot.
TOTALS_JOURNAL = "totals_journal"
# Daily, per-target and per-(target, actor) counters, each addressed by its ``_id`` only.
COUNTERS = "ledger_counters"
_COUNTERS_MIGRATION = "counters_from_ledger"
# Ids of the latest entries a counter keeps, to tell a redelivered entry it holds already.
RECENT = 100
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
    )
}
OUTBOX_COLLECTIONS = [LEDGER]
INDEXES = [
    # A member's entries in order: recounting and building the counters.
    IndexSpec(LEDGER, [("member_id", 1), ("time", 1), ("_id", 1)]),
    # Distinct targets per rule (the badges).
    IndexSpec(LEDGER, [("community_id", 1), ("member_id", 1), ("rule", 1), ("day", 1)]),
    IndexSpec(TOTALS, [("community_id", 1), ("points", -1)]),
    IndexSpec(TOTALS, [("period", 1), ("community_id", 1)]),
    IndexSpec(TOTALS_JOURNAL, [("time", 1)]),
    IndexSpec(TAG_TOTALS, [("community_id", 1), ("tag", 1), ("points", -1), ("_id", -1)]),
    *outbox_indexes(OUTBOX_COLLECTIONS),
]


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
    the fast path keeps (``applied``: the last ``RECENT`` entry ids, in the order given; tags and
    targets sorted)."""
    out: dict[tuple[str, str], Document] = {}
    for entry in entries:
        for counter in counters_of(entry):
            guard = "targets" if counter.once_per else "applied"
            doc = out.setdefault(
                (counter.collection, counter.id), {"_id": counter.id, **counter.fields, guard: []}
            )
            if counter.once_per:
                if counter.once_per not in doc["targets"]:
                    doc["targets"] = sorted([*doc["targets"], counter.once_per])
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
            doc["applied"] = [*doc["applied"], str(entry["_id"])][-RECENT:]
    return out


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
        journal: bool = True,
    ) -> None:
        """``journal``: keep the totals journal boards snapshots are completed with (when they are taken)."""
        self._journal = journal
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
        self._on_events = on_events
        self._calendar = calendar or Calendar()

    async def record(self, entry: LedgerEntry, *, region: str, programme: str) -> list[Total]:
        stored, inserted = await self.append(entry, region=region, programme=programme)
        if not inserted and stored.get("released", True):
            # Counted and released before: nothing to do but say where the totals stand.
            return await self.stored_totals(entry.community_id, entry.member_id, entry.time)
        return await self._finish(stored, inserted=inserted)

    async def _finish(self, stored: Document, *, inserted: bool) -> list[Total]:
        """Count a stored entry, journal the totals it gave and release it."""
        entry_id, member_id = str(stored["_id"]), str(stored["member_id"])
        computed = await self.count(stored)
        if self._journal:
            await self._write_journal(entry_id, member_id, computed, replace=not inserted)
        await self.release(entry_id)
        return [Total(board, member_id, points, period) for board, period, points, _ in computed]

    async def resume(self, entry_ids: Collection[str]) -> list[LedgerEntry]:
        """Finish the entries among ``entry_ids`` left recorded but unreleased by a crash (counted as
        first recorded, journaled, released); the entries it finished.

        A handler calls it before reading any counter, since a half-counted entry of its own event may
        already show in the counters its checks read and turn it away before it would record again.
        """
        if not entry_ids:
            return []
        docs = await self._ledger.find(
            {"_id": {"$in": list(entry_ids)}, "released": False}, {**_ENTRY_FIELDS, "source_event_id": 1}
        ).to_list()
        finished: list[LedgerEntry] = []
        for doc in sorted(docs, key=lambda d: str(d["_id"])):
            await self._finish(doc, inserted=False)
            time = doc["time"]
            finished.append(
                LedgerEntry(
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
            )
        return finished

    async def append(self, entry: LedgerEntry, *, region: str, programme: str) -> tuple[Document, bool]:
        """Insert the entry unless its id is recorded; the stored entry, and whether it was inserted now."""
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
        try:
            await self._ledger.insert_one(doc)
            return doc, True
        except DuplicateKeyError:
            stored = await self._ledger.find_one({"_id": entry.id})
            if stored is None:  # pragma: no cover - entries are never deleted
                raise
            return stored, False

    async def count(self, stored: Document) -> list[tuple[str, str, int, int]]:
        """Apply a stored entry to every counter it counts in (skipping those holding it already);
        the totals after it: (board, period, points, entries)."""
        entry_id = str(stored["_id"])
        totals: dict[str, Document] = {}
        for counter in counters_of(stored):
            doc = await self.apply(entry_id, counter)
            if counter.collection == TOTALS:
                totals[counter.id] = doc or {}
        missing = [_id for _id, doc in totals.items() if not doc]
        if missing:
            async for doc in self._totals.find({"_id": {"$in": missing}}):
                totals[doc["_id"]] = doc
        return [
            (doc["community_id"], doc["period"], int(doc["points"]), int(doc["entries"]))
            for doc in totals.values()
            if doc
        ]

    async def release(self, entry_id: str) -> None:
        """Mark the entry counted and hand its ``points_changed`` event to the relay."""
        async with document_lock(LEDGER, entry_id):
            released = await self._ledger.update_one(
                {"_id": entry_id, "released": False}, {"$set": {"released": True, PENDING: True}}
            )
        if released.modified_count:
            # Named, so the relay publishes it by _id rather than sweeping the whole ledger.
            self._on_events(LEDGER, entry_id)

    async def _write_journal(
        self, entry_id: str, member_id: str, computed: list[tuple[str, str, int, int]], *, replace: bool
    ) -> None:
        """Journal the totals an entry gave. Replaced when the entry is handled again (its event may
        have been held since a crash, unseen by every replica's boards), so its time is that of the
        latest handling."""
        doc = {
            "_id": entry_id,
            "member_id": member_id,
            "time": utc_now(),
            "totals": [
                {"community_id": board, "period": period, "points": points, "entries": entries}
                for board, period, points, entries in computed
            ],
        }
        if replace:
            async with document_lock(TOTALS_JOURNAL, entry_id):
                await self._journal_docs.replace_one({"_id": entry_id}, doc, upsert=True)
            return
        try:
            await self._journal_docs.insert_one(doc)
        except DuplicateKeyError:
            pass

    async def apply(self, entry_id: str, counter: Counter) -> Document | None:
        """Apply the entry to the counter unless it holds it; the counter after it, or None if it held
        it already."""
        collection = self._collections[counter.collection]
        # Once per entry, or once per value (the distinct targets: a set that stays small).
        guard, key = ("targets", counter.once_per) if counter.once_per else ("applied", entry_id)
        update: Document = {
            "$set": counter.fields,
            "$inc": counter.increments,
            "$push": {guard: key},
        }
        if counter.tags:
            update["$addToSet"] = {"tags": {"$each": list(counter.tags)}}
        async with document_lock(counter.collection, counter.id):
            for _ in range(3):
                try:
                    doc = await collection.find_one_and_update(
                        {"_id": counter.id, guard: {"$ne": key}},
                        update,
                        upsert=True,
                        return_document=ReturnDocument.AFTER,
                    )
                except DuplicateKeyError:
                    # Held already, or (MongoDB) another process inserted the counter meanwhile.
                    if await collection.find_one({"_id": counter.id, guard: key}, {"_id": 1}):
                        return None
                    continue
                applied = list(doc.get("applied", [])) if doc and not counter.once_per else []
                if doc is not None and len(applied) > RECENT + RECENT // 2:
                    await collection.update_one(
                        {"_id": counter.id, "entries": doc["entries"]},
                        {"$set": {"applied": applied[-RECENT:]}},
                    )
                return doc
        raise RuntimeError(f"counter {counter.id} could not be applied entry {entry_id}")

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
        if other_than and other_than in doc.get("applied", []):
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
        docs = await self._totals.find({"_id": {"$in": ids}}).to_list()
        return [
            Total(doc["community_id"], doc["member_id"], int(doc["points"]), doc.get("period", ALL_TIME))
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
            async with document_lock(collection, _id):
                await self._collections[collection].replace_one({"_id": _id}, doc, upsert=True)
        return len(counted)

    async def recomputed(self, member_id: str) -> dict[tuple[str, str], Document]:
        """The member's counters as the ledger gives them, and the stored ones under the same keys
        side by side would be equal: see ``stored_counters``."""
        return tally(await self._entries({"member_id": member_id}))

    async def stored_counters(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Document]:
        """The stored counters of the given (collection, ``_id``) keys (tags and targets sorted)."""
        wanted: dict[str, list[str]] = {}
        for collection, _id in keys:
            wanted.setdefault(collection, []).append(_id)
        out: dict[tuple[str, str], Document] = {}
        for collection, ids in wanted.items():
            async for doc in self._collections[collection].find({"_id": {"$in": ids}}):
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
        already kept by counting (they have ``applied``) and counters that exist are left as they are;
        totals stored by recomputation before equal the ledger's sums and are given the same values
        with ``applied``. Consumers of an earlier version must be stopped first: entries they record
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
            async with document_lock(collection, _id):
                try:
                    if collection == COUNTERS:
                        await target.insert_one(doc)
                    else:
                        values = {k: v for k, v in doc.items() if k != "_id"}
                        await target.update_one(
                            {"_id": _id, "applied": {"$exists": False}}, {"$set": values}, upsert=True
                        )
                    written += 1
                except DuplicateKeyError:
                    pass  # kept by counting already
        return written

    async def totals(self, periods: Collection[str]) -> AsyncIterator[Total]:
        projection = {"_id": 0, "community_id": 1, "member_id": 1, "points": 1, "period": 1}
        async for doc in self._totals.find({"period": {"$in": list(periods)}}, projection).batch_size(10_000):
            yield Total(doc["community_id"], doc["member_id"], int(doc["points"]), doc["period"])

    async def totals_changed_since(self, periods: Collection[str], since: datetime) -> AsyncIterator[Total]:
        """From the journal: of each total journaled since, the value covering most entries (totals only
        ever grow in entries, so that is the one stored)."""
        wanted = set(periods)
        latest: dict[tuple[str, str, str], tuple[int, int]] = {}
        async for doc in self._journal_docs.find({"time": {"$gte": since}}).batch_size(10_000):
            member_id = doc["member_id"]
            for total in doc.get("totals", []):
                if total["period"] not in wanted:
                    continue
                key = (total["community_id"], total["period"], member_id)
                entries, points = int(total["entries"]), int(total["points"])
                if key not in latest or latest[key][0] < entries:
                    latest[key] = (entries, points)
        for (community_id, period, member_id), (_, points) in latest.items():
            yield Total(community_id, member_id, points, period)

    async def prune_journal(self, before: datetime) -> int:
        """Forget journaled totals older than ``before``; how many."""
        result = await self._journal_docs.delete_many({"time": {"$lt": before}})
        return result.deleted_count
