"""The points ledger and per-board totals in MongoDB.

A ledger entry's ``_id`` is ``<event id>:<rule>``, so a redelivered event cannot count twice. Each
entry carries its day, week and month in the configured time zone. A member's totals (community and
global boards; all time, the entry's week and month) are recomputed from the ledger and written only
if they cover more entries than the stored ones, so replays and races converge on the ledger's sums.

The entry's ``points_changed`` event is released to the outbox only after the totals are written, so
a replica that sees the event reads totals that include the entry. A crash in between leaves the
event held; the source event is then redelivered and the duplicate path releases it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection
from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild.events.v1 import reputation_events_pb2 as pb
from guild_common.doclocks import document_lock
from guild_common.events.envelope import Envelope, new_envelope
from guild_common.events.outbox import PENDING, current_trace_headers, outbox_fields, outbox_indexes
from guild_common.mongo import Document, IndexSpec
from guild_reputation.app.ports import Total
from guild_reputation.domain.periods import ALL_TIME, GLOBAL, Calendar
from guild_reputation.domain.rules import LedgerEntry, Rule

LEDGER = "ledger"
TOTALS = "totals"
META = "ledger_meta"
_PERIODS_MIGRATION = "totals_have_periods"
OUTBOX_COLLECTIONS = [LEDGER]
INDEXES = [
    IndexSpec(LEDGER, [("community_id", 1), ("member_id", 1), ("time", 1)]),
    IndexSpec(LEDGER, [("community_id", 1), ("member_id", 1), ("target_id", 1)]),
    IndexSpec(LEDGER, [("community_id", 1), ("member_id", 1), ("rule", 1), ("day", 1)]),
    IndexSpec(LEDGER, [("member_id", 1), ("week", 1)]),
    IndexSpec(LEDGER, [("member_id", 1), ("month", 1)]),
    IndexSpec(TOTALS, [("community_id", 1), ("points", -1)]),
    IndexSpec(TOTALS, [("period", 1), ("community_id", 1)]),
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
        self, db: AsyncDatabase[Document], on_events: Callable[[], None], calendar: Calendar | None = None
    ) -> None:
        self._ledger = db[LEDGER]
        self._totals = db[TOTALS]
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
        except DuplicateKeyError:
            pass  # recorded before; still make sure the totals reflect it and its event is released
        totals = await self._refresh_totals(entry.community_id, entry.member_id, periods.week, periods.month)
        async with document_lock(LEDGER, entry.id):
            released = await self._ledger.update_one(
                {"_id": entry.id, "released": False}, {"$set": {"released": True, PENDING: True}}
            )
        if released.modified_count:
            self._on_events()
        return totals

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

    async def _refresh_totals(self, community_id: str, member_id: str, week: str, month: str) -> list[Total]:
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
        return [Total(board, member_id, points, period) for board, period, points, _ in computed]

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

    async def has_entry(self, community_id: str, member_id: str, target_id: str, rule: Rule) -> bool:
        found = await self._ledger.find_one(
            {
                "community_id": community_id,
                "member_id": member_id,
                "target_id": target_id,
                "rule": rule.value,
            },
            {"_id": 1},
        )
        return found is not None

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

    async def migrate_totals(self) -> None:
        """Give totals stored before periods existed their ``all`` period, once per database."""
        if await self._meta.find_one({"_id": _PERIODS_MIGRATION}) is not None:
            return
        await self._totals.update_many({"period": {"$exists": False}}, {"$set": {"period": ALL_TIME}})
        try:
            await self._meta.insert_one({"_id": _PERIODS_MIGRATION})
        except DuplicateKeyError:
            pass  # another replica finished it too

    async def totals(self, periods: Collection[str]) -> AsyncIterator[Total]:
        projection = {"_id": 0, "community_id": 1, "member_id": 1, "points": 1, "period": 1}
        async for doc in self._totals.find({"period": {"$in": list(periods)}}, projection).batch_size(10_000):
            yield Total(doc["community_id"], doc["member_id"], int(doc["points"]), doc["period"])
