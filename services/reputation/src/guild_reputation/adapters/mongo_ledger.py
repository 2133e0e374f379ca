"""The points ledger and per-member totals in MongoDB.

A ledger entry's ``_id`` is ``<event id>:<rule>``, so a redelivered event cannot count twice. The
member's total is recomputed from the ledger and written only if it covers more entries than the
stored one, so replays and races converge on the ledger's sum.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from google.protobuf.timestamp_pb2 import Timestamp
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild.events.v1 import reputation_events_pb2 as pb
from guild_common.doclocks import document_lock
from guild_common.events.envelope import Envelope, new_envelope
from guild_common.events.outbox import current_trace_headers, outbox_fields, outbox_indexes
from guild_common.mongo import Document, IndexSpec
from guild_reputation.app.ports import Total
from guild_reputation.domain.rules import LedgerEntry, Rule

LEDGER = "ledger"
TOTALS = "totals"
OUTBOX_COLLECTIONS = [LEDGER]
INDEXES = [
    IndexSpec(LEDGER, [("community_id", 1), ("member_id", 1), ("time", 1)]),
    IndexSpec(LEDGER, [("community_id", 1), ("member_id", 1), ("target_id", 1)]),
    IndexSpec(TOTALS, [("community_id", 1), ("points", -1)]),
    *outbox_indexes(OUTBOX_COLLECTIONS),
]


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
    def __init__(self, db: AsyncDatabase[Document], on_events: Callable[[], None]) -> None:
        self._ledger = db[LEDGER]
        self._totals = db[TOTALS]
        self._on_events = on_events

    async def record(self, entry: LedgerEntry, *, region: str, programme: str) -> Total:
        doc = {
            "_id": entry.id,
            "community_id": entry.community_id,
            "member_id": entry.member_id,
            "amount": entry.amount,
            "rule": entry.rule.value,
            "source_event_id": entry.source_event_id,
            "target_id": entry.target_id,
            "time": entry.time,
            **outbox_fields(_points_changed(entry, region, programme)),
        }
        try:
            await self._ledger.insert_one(doc)
            self._on_events()
        except DuplicateKeyError:
            pass  # recorded before; still make sure the total reflects it
        return await self._refresh_total(entry.community_id, entry.member_id)

    async def _refresh_total(self, community_id: str, member_id: str) -> Total:
        rows = await (
            await self._ledger.aggregate(
                [
                    {"$match": {"community_id": community_id, "member_id": member_id}},
                    {"$group": {"_id": None, "points": {"$sum": "$amount"}, "entries": {"$sum": 1}}},
                ]
            )
        ).to_list()
        points = int(rows[0]["points"]) if rows else 0
        entries = int(rows[0]["entries"]) if rows else 0
        async with document_lock(TOTALS, f"{community_id}:{member_id}"):
            try:
                await self._totals.update_one(
                    {"_id": f"{community_id}:{member_id}", "entries": {"$lt": entries}},
                    {
                        "$set": {
                            "community_id": community_id,
                            "member_id": member_id,
                            "points": points,
                            "entries": entries,
                        }
                    },
                    upsert=True,
                )
            except DuplicateKeyError:
                pass  # a fresher total is stored already
        return Total(community_id, member_id, points)

    async def net_for_target(
        self, community_id: str, member_id: str, target_id: str, rules: list[Rule]
    ) -> int:
        rows = await (
            await self._ledger.aggregate(
                [
                    {
                        "$match": {
                            "community_id": community_id,
                            "member_id": member_id,
                            "target_id": target_id,
                            "rule": {"$in": [r.value for r in rules]},
                        }
                    },
                    {"$group": {"_id": None, "net": {"$sum": "$amount"}}},
                ]
            )
        ).to_list()
        return int(rows[0]["net"]) if rows else 0

    async def totals(self) -> AsyncIterator[Total]:
        async for doc in self._totals.find({}, {"community_id": 1, "member_id": 1, "points": 1}).batch_size(
            5000
        ):
            yield Total(doc["community_id"], doc["member_id"], int(doc["points"]))
