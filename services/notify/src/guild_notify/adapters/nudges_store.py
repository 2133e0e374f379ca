"""Unanswered-question nudges in MongoDB, one document per question (``_id`` the question id).

A nudge is ``pending`` until it falls due and is sent (``sent``), or until an answer arrives or the
question is removed (``cancelled``). An answer that arrives before its question leaves a ``cancelled``
placeholder, so the question, when it comes, is never nudged.
"""

from __future__ import annotations

from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.mongo import Document, IndexSpec, StoreSchema
from guild_notify.domain.questions import QuestionNudge

NUDGES = "question_nudges"
SCHEMA = StoreSchema(
    indexes=[
        IndexSpec(NUDGES, [("status", 1), ("due_time", 1), ("_id", 1)]),
    ],
)
PENDING, CANCELLED, SENT = "pending", "cancelled", "sent"


def _nudge(doc: Document) -> QuestionNudge:
    return QuestionNudge(
        question_id=doc["_id"],
        community_id=doc["community_id"],
        title=doc["title"],
        author_id=doc["author_id"],
        ask_time=doc["ask_time"],
        due_time=doc["due_time"],
    )


class MongoNudges:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._nudges = db[NUDGES]

    async def schedule(self, nudge: QuestionNudge) -> None:
        details = {
            "community_id": nudge.community_id,
            "title": nudge.title,
            "author_id": nudge.author_id,
            "ask_time": nudge.ask_time,
            "due_time": nudge.due_time,
        }
        try:
            await self._nudges.insert_one({"_id": nudge.question_id, "status": PENDING, **details})
        except DuplicateKeyError:
            # Scheduled already, or answered before the question arrived: keep that one cancelled, with
            # the question's details (only a record without them takes them).
            await self._nudges.update_one(
                {"_id": nudge.question_id, "due_time": {"$exists": False}}, {"$set": details}
            )

    async def cancel(self, question_id: str, at: datetime) -> None:
        for _ in range(2):
            cancelled = await self._nudges.update_one(
                {"_id": question_id, "status": PENDING}, {"$set": {"status": CANCELLED, "cancel_time": at}}
            )
            if cancelled.matched_count:
                return
            try:  # not pending: not there yet (cancel it before it arrives), or sent or cancelled already
                await self._nudges.insert_one({"_id": question_id, "status": CANCELLED, "cancel_time": at})
                return
            except DuplicateKeyError:
                continue  # there: sent or cancelled (nothing to do), or scheduled meanwhile (cancel it)

    async def due(self, now: datetime, limit: int) -> list[QuestionNudge]:
        cursor = (
            self._nudges.find({"status": PENDING, "due_time": {"$lte": now}})
            .sort([("due_time", 1), ("_id", 1)])
            .limit(limit)
        )
        return [_nudge(d) async for d in cursor]

    async def next_due(self) -> datetime | None:
        doc = await self._nudges.find_one(
            {"status": PENDING}, {"due_time": 1}, sort=[("due_time", 1), ("_id", 1)]
        )
        return doc["due_time"] if doc is not None else None

    async def still_pending(self, question_id: str) -> bool:
        doc = await self._nudges.find_one({"_id": question_id}, {"status": 1})
        return doc is not None and doc["status"] == PENDING

    async def sent(self, question_id: str, at: datetime) -> None:
        await self._nudges.update_one(
            {"_id": question_id, "status": PENDING}, {"$set": {"status": SENT, "sent_time": at}}
        )
