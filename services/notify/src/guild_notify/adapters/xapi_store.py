"""xAPI statements queued in MongoDB, one document per endpoint and statement (``lrs_client`` sends them)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from guild_common.mongo import Document, IndexSpec, StoreSchema
from guild_notify.domain.xapi import (
    Outcome,
    QueuedStatement,
    StatementState,
    queued_id,
)

STATEMENTS = "xapi_statements"
DUPLICATE_KEY = 11000
SCHEMA = StoreSchema(
    indexes=[
        # claim and next_due: an endpoint's pending statements in the order they fall due
        IndexSpec(STATEMENTS, [("endpoint", 1), ("state", 1), ("next_attempt_time", 1), ("_id", 1)]),
    ],
)


def _queued(doc: Document) -> QueuedStatement:
    return QueuedStatement(
        id=doc["_id"],
        endpoint=doc["endpoint"],
        statement_id=doc["statement_id"],
        body=doc["body"],
        attempts=doc.get("attempts", 0),
        lease=doc.get("lease", ""),
    )


class MongoStatementQueue:
    """The statement is kept as its JSON text: its extension keys are IRIs, which hold dots."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._statements = db[STATEMENTS]

    async def enqueue(self, endpoints: Sequence[str], statement_id: str, body: str, now: datetime) -> int:
        docs = [
            {
                "_id": queued_id(endpoint, statement_id),
                "endpoint": endpoint,
                "statement_id": statement_id,
                "body": body,
                "state": StatementState.PENDING.value,
                "attempts": 0,
                "lease": "",
                "create_time": now,
                "next_attempt_time": now,
            }
            for endpoint in endpoints
        ]
        if not docs:
            return 0
        try:
            result = await self._statements.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(error.get("code") != DUPLICATE_KEY for error in errors):
                raise
            return len(docs) - len(errors)
        return len(result.inserted_ids)

    async def claim(
        self, endpoint: str, now: datetime, limit: int, lease: timedelta
    ) -> list[QueuedStatement]:
        """A claim moves each statement's ``next_attempt_time`` past the lease, guarded by its being due:
        of two replicas racing for one statement, only one update matches. A claim that is never settled
        (the replica died) lets the statements fall due again when the lease runs out."""
        due = {
            "endpoint": endpoint,
            "state": StatementState.PENDING.value,
            "next_attempt_time": {"$lte": now},
        }
        cursor = (
            self._statements.find(due, {"_id": 1}).sort([("next_attempt_time", 1), ("_id", 1)]).limit(limit)
        )
        ids = [doc["_id"] async for doc in cursor]
        if not ids:
            return []
        token = uuid.uuid4().hex
        held = {"$set": {"lease": token, "next_attempt_time": now + lease}}
        await self._statements.bulk_write([UpdateOne({**due, "_id": i}, held) for i in ids], ordered=False)
        claimed = {
            d["_id"]: _queued(d) async for d in self._statements.find({"_id": {"$in": ids}, "lease": token})
        }
        return [claimed[i] for i in ids if i in claimed]

    async def settle(self, outcomes: Sequence[Outcome], now: datetime) -> None:
        updates = []
        for o in outcomes:
            changes: Document = {
                "state": o.state.value,
                "attempts": o.attempts,
                "lease": "",
                "next_attempt_time": o.next_attempt_time,
                "last_attempt_time": now,
                "last_error": o.error,
            }
            if o.state is StatementState.SENT:
                changes["sent_time"] = now
            updates.append(UpdateOne({"_id": o.statement.id, "lease": o.statement.lease}, {"$set": changes}))
        if updates:
            await self._statements.bulk_write(updates, ordered=False)

    async def next_due(self, endpoint: str) -> datetime | None:
        doc = await self._statements.find_one(
            {"endpoint": endpoint, "state": StatementState.PENDING.value},
            {"next_attempt_time": 1},
            sort=[("next_attempt_time", 1), ("_id", 1)],
        )
        return doc["next_attempt_time"] if doc is not None else None
