"""The points ledger and per-board totals in MongoDB.

A ledger entry's ``_id`` is ``<event id>:<rule>``, so a redelivered event cannot count twice. Each
entry carries its day, week and month in the configured time zone. A member's totals (community and
global boards; all time, the entry's week and month) are recomputed from the ledger and written only
if they cover more entries than the stored ones, so replays and races converge on the ledger's sums.

Each entry also carries the tags of the post it is about (a reversal those of the entries it takes back),
and the member's points per (community, tag) are recomputed the same way into ``tag_totals``, which
serve the members with most points on a tag.

The entry's ``points_changed`` event is released to the outbox only after the totals are written, so
a replica that sees the event reads totals that include the entry. A crash in between leaves the
event held; the source event is then redelivered and the duplicate path releases it.

Each entry also journals the totals it gave, with the time they were written, in ``totals_journal``:
a replica starting from a boards snapshot reads only that (small, pruned after each snapshot)
journal rather than one total per member.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection
from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
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
OUTBOX_COLLECTIONS = [LEDGER]
INDEXES = [
    IndexSpec(LEDGER, [("community_id", 1), ("member_id", 1), ("time", 1)]),
    IndexSpec(LEDGER, [("community_id", 1), ("member_id", 1), ("target_id", 1)]),
    IndexSpec(LEDGER, [("community_id", 1), ("member_id", 1), ("rule", 1), ("day", 1)]),
    IndexSpec(LEDGER, [("member_id", 1), ("week", 1)]),
    IndexSpec(LEDGER, [("member_id", 1), ("month", 1)]),
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
        on_events: Callable[[], None],
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
        self._meta = db[META]
        self._on_events = on_events
        self._calendar = calendar or Calendar()

    async def record(self, entry: LedgerEntry, *, region: str, programme: str) -> list[Total]:
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
        inserted = True
        try:
            await self._ledger.insert_one(doc)
        except DuplicateKeyError:
            # Recorded before; still make sure the totals reflect it and its event is released.
            inserted = False
        computed = await self._refresh_totals(
            entry.community_id, entry.member_id, periods.week, periods.month
        )
        if self._journal:
            await self._write_journal(entry.id, entry.member_id, computed, replace=not inserted)
        if entry.tags:
            await self._refresh_tag_totals(entry.community_id, entry.member_id, entry.tags)
        async with document_lock(LEDGER, entry.id):
            released = await self._ledger.update_one(
                {"_id": entry.id, "released": False}, {"$set": {"released": True, PENDING: True}}
            )
        if released.modified_count:
            self._on_events()
        return [Total(board, entry.member_id, points, period) for board, period, points, _ in computed]

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

    async def _sum(self, match: Document, group_by: str | None = None) -> dict[Any, tuple[int, int]]:
        """(points, entries) of the matching entries, per ``group_by`` value (or under None).

        Summed here rather than in one ``$group``: FerretDB 1.24 returns 0 for every ``$sum``
        accumulator of a ``$group`` but the first.
        """
        projection: Document = {"_id": 0, "amount": 1}
        if group_by:
            projection[group_by] = 1
        sums: dict[Any, tuple[int, int]] = {}
        async for doc in self._ledger.find(match, projection).batch_size(1000):
            key = doc.get(group_by) if group_by else None
            points, entries = sums.get(key, (0, 0))
            sums[key] = (points + int(doc["amount"]), entries + 1)
        return sums

    async def _refresh_totals(
        self, community_id: str, member_id: str, week: str, month: str
    ) -> list[tuple[str, str, int, int]]:
        """Recompute and store the member's totals the entry touches: (board, period, points, entries)."""
        computed: list[tuple[str, str, int, int]] = []
        community_all = await self._sum({"community_id": community_id, "member_id": member_id})
        computed.append((community_id, ALL_TIME, *community_all.get(None, (0, 0))))
        global_all = await self._sum({"member_id": member_id})
        computed.append((GLOBAL, ALL_TIME, *global_all.get(None, (0, 0))))
        for field, period in (("week", week), ("month", month)):
            by_community = await self._sum({"member_id": member_id, field: period}, group_by="community_id")
            computed.append((community_id, period, *by_community.get(community_id, (0, 0))))
            computed.append(
                (
                    GLOBAL,
                    period,
                    sum(p for p, _ in by_community.values()),
                    sum(n for _, n in by_community.values()),
                )
            )
        for board, period, points, entries in computed:
            await self._store_total(board, period, member_id, points, entries)
        return computed

    async def _store_total(self, board: str, period: str, member_id: str, points: int, entries: int) -> None:
        _id = total_id(board, period, member_id)
        async with document_lock(TOTALS, _id):
            try:
                await self._totals.update_one(
                    {"_id": _id, "entries": {"$lt": entries}},
                    {
                        "$set": {
                            "community_id": board,
                            "period": period,
                            "member_id": member_id,
                            "points": points,
                            "entries": entries,
                        }
                    },
                    upsert=True,
                )
            except DuplicateKeyError:
                pass  # a fresher total is stored already

    async def _refresh_tag_totals(self, community_id: str, member_id: str, tags: Collection[str]) -> None:
        """Recompute the member's points on each of ``tags`` in the community from the ledger."""
        sums = {tag: (0, 0) for tag in tags}
        match = {"community_id": community_id, "member_id": member_id, "tags": {"$in": list(tags)}}
        async for doc in self._ledger.find(match, {"_id": 0, "amount": 1, "tags": 1}).batch_size(1000):
            for tag in set(doc.get("tags", [])) & sums.keys():
                points, entries = sums[tag]
                sums[tag] = (points + int(doc["amount"]), entries + 1)
        for tag, (points, entries) in sums.items():
            _id = f"{community_id}|{tag}|{member_id}"
            async with document_lock(TAG_TOTALS, _id):
                try:
                    await self._tag_totals.update_one(
                        {"_id": _id, "entries": {"$lt": entries}},
                        {
                            "$set": {
                                "community_id": community_id,
                                "tag": tag,
                                "member_id": member_id,
                                "points": points,
                                "entries": entries,
                            }
                        },
                        upsert=True,
                    )
                except DuplicateKeyError:
                    pass  # a fresher total is stored already

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

    async def tags_for_target(self, community_id: str, member_id: str, target_id: str) -> list[str]:
        """Every tag the member's entries about ``target_id`` were recorded with."""
        tags = await self._ledger.distinct(
            "tags", {"community_id": community_id, "member_id": member_id, "target_id": target_id}
        )
        return sorted(str(t) for t in tags)

    async def count_for_target(
        self, community_id: str, member_id: str, target_id: str, rule: Rule, actor_id: str = ""
    ) -> int:
        match: Document = {
            "community_id": community_id,
            "member_id": member_id,
            "target_id": target_id,
            "rule": rule.value,
        }
        if actor_id:
            match["actor_id"] = actor_id
        return await self._ledger.count_documents(match)

    async def net_for_target(
        self, community_id: str, member_id: str, target_id: str, rules: list[Rule], actor_id: str = ""
    ) -> int:
        match: Document = {
            "community_id": community_id,
            "member_id": member_id,
            "target_id": target_id,
            "rule": {"$in": [r.value for r in rules]},
        }
        if actor_id:
            match["actor_id"] = actor_id
        return (await self._sum(match)).get(None, (0, 0))[0]

    async def has_entry(
        self,
        community_id: str,
        member_id: str,
        target_id: str,
        rule: Rule,
        actor_id: str = "",
        other_than: str = "",
    ) -> bool:
        match: Document = {
            "community_id": community_id,
            "member_id": member_id,
            "target_id": target_id,
            "rule": rule.value,
        }
        if actor_id:
            match["actor_id"] = actor_id
        if other_than:
            match["_id"] = {"$ne": other_than}
        return await self._ledger.find_one(match, {"_id": 1}) is not None

    async def earned_on(self, community_id: str, member_id: str, rule: Rule, moment: datetime) -> int:
        match = {
            "community_id": community_id,
            "member_id": member_id,
            "rule": rule.value,
            "day": self._calendar.day(moment),
        }
        return (await self._sum(match)).get(None, (0, 0))[0]

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
