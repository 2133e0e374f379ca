"""Emails: a pending-email collection in MongoDB (an outbox); ``smtp_client`` sends them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.clock import utc_now
from guild_common.mongo import Document, IndexSpec, StoreSchema
from guild_notify.app.ports import OutgoingEmail

EMAILS = "emails"
SCHEMA = StoreSchema(
    indexes=[
        IndexSpec(EMAILS, [("status", 1), ("next_attempt_time", 1), ("_id", 1)]),
    ],
)
PENDING, SENT = "pending", "sent"


def _email(doc: Document) -> OutgoingEmail:
    return OutgoingEmail(
        id=doc["_id"],
        to=doc["to"],
        subject=doc["subject"],
        text=doc["text"],
        html=doc["html"],
        create_time=doc["create_time"],
    )


class MongoEmailOutbox:
    """One document per email, ``_id`` the notification id; a log of attempts on the document."""

    def __init__(self, db: AsyncDatabase[Document], on_enqueue: Callable[[], None] = lambda: None) -> None:
        self._emails = db[EMAILS]
        self._on_enqueue = on_enqueue

    async def enqueue(self, email: OutgoingEmail) -> bool:
        try:
            await self._emails.insert_one(
                {
                    "_id": email.id,
                    "to": email.to,
                    "subject": email.subject,
                    "text": email.text,
                    "html": email.html,
                    "create_time": email.create_time,
                    "status": PENDING,
                    "attempts": 0,
                    "next_attempt_time": utc_now(),
                    "log": [],
                }
            )
        except DuplicateKeyError:
            return False
        self._on_enqueue()
        return True

    async def due(self, now: datetime, limit: int) -> list[tuple[OutgoingEmail, int]]:
        cursor = (
            self._emails.find({"status": PENDING, "next_attempt_time": {"$lte": now}})
            .sort([("next_attempt_time", 1), ("_id", 1)])
            .limit(limit)
        )
        return [(_email(d), int(d["attempts"])) async for d in cursor]

    async def next_due(self) -> datetime | None:
        doc = await self._emails.find_one(
            {"status": PENDING}, {"next_attempt_time": 1}, sort=[("next_attempt_time", 1), ("_id", 1)]
        )
        return doc["next_attempt_time"] if doc is not None else None

    async def sent(self, email_id: str, attempts: int, at: datetime) -> None:
        # Guarded: recorded once, and never over a later state.
        await self._emails.update_one(
            {"_id": email_id, "status": PENDING},
            {
                "$set": {"status": SENT, "attempts": attempts, "sent_time": at},
                "$push": {"log": {"attempt": attempts, "at": at, "ok": True, "error": ""}},
            },
        )

    async def failed(self, email_id: str, attempts: int, retry_at: datetime, error: str) -> None:
        # Guarded by the attempt number: a failure recorded twice, or after a success, changes nothing.
        await self._emails.update_one(
            {"_id": email_id, "status": PENDING, "attempts": {"$lt": attempts}},
            {
                "$set": {"attempts": attempts, "next_attempt_time": retry_at, "last_error": error},
                "$push": {"log": {"attempt": attempts, "at": utc_now(), "ok": False, "error": error[:500]}},
            },
        )

    async def status(self, email_id: str) -> Document | None:
        return await self._emails.find_one({"_id": email_id})
