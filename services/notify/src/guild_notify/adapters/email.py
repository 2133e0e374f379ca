"""Emails: a pending-email collection in MongoDB (an outbox) and SMTP delivery."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.clock import utc_now
from guild_common.mongo import Document, IndexSpec
from guild_notify.app.ports import OutgoingEmail

EMAILS = "emails"
INDEXES = [IndexSpec(EMAILS, [("status", 1), ("next_attempt_time", 1), ("_id", 1)])]
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


class SmtpMailer:
    """Plain SMTP (multipart text and HTML) through the standard library, off the event loop."""

    def __init__(self, host: str, port: int, sender: str, timeout: float = 10.0) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._timeout = timeout

    def _message(self, email: OutgoingEmail) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = email.to
        message["Subject"] = email.subject
        message["Message-ID"] = f"<{email.id.replace(':', '.')}@guild>"
        message.set_content(email.text)
        message.add_alternative(email.html, subtype="html")
        return message

    def _send(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
            smtp.send_message(message)

    async def send(self, email: OutgoingEmail) -> None:
        if not self._host:
            raise ConnectionError("no SMTP host configured")
        await asyncio.to_thread(self._send, self._message(email))
