"""The transactional outbox without multi-document transactions.

A write stores its events in the same document it changes (``outbox`` array, ``outbox_pending``
flag, ``outbox_seq`` counter) in one single-document operation. The relay publishes pending events
and then clears them, guarded by ``outbox_seq`` so that events added meanwhile stay. A crash between
publish and clear republishes; JetStream's ``Nats-Msg-Id`` dedupe absorbs it.

A writer wakes the relay after its write, naming the document (``wake(collection, _id)``): the relay
then publishes that document by ``_id`` at once. A full sweep of every outbox collection
(``find({outbox_pending: true})``) runs at start, after a wake that names no document, after a failed
pass, and every ``full_sweep_seconds``: it catches what a crashed process or another replica left behind.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog
from google.protobuf.message import Message
from opentelemetry import metrics, propagate
from pymongo.asynchronous.database import AsyncDatabase

from guild_common.events.envelope import Envelope, new_envelope
from guild_common.mongo import Document, IndexSpec
from guild_common.sweeper import SweepingWorker

log = structlog.get_logger("guild.outbox")
_meter = metrics.get_meter("guild.outbox")
_published = _meter.create_counter("guild.events.published", description="events published from the outbox")

OUTBOX = "outbox"
PENDING = "outbox_pending"
SEQ = "outbox_seq"


def current_trace_headers() -> dict[str, str]:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def traced_envelope(
    *, service: str, name: str, payload: Message, subject: str, region: str, programme: str
) -> Envelope:
    """A new event carrying the current trace context, so the consumer's span joins the writer's trace."""
    trace = current_trace_headers()
    return new_envelope(
        service=service,
        name=name,
        payload=payload,
        subject=subject,
        region=region,
        programme=programme,
        traceparent=trace.get("traceparent", ""),
        tracestate=trace.get("tracestate", ""),
    )


def outbox_fields(events: Sequence[Envelope]) -> Document:
    """Fields to include in a new document so its events are published."""
    return {OUTBOX: [e.to_document() for e in events], PENDING: bool(events), SEQ: 1 if events else 0}


def outbox_update(events: Sequence[Envelope]) -> Document:
    """Update operators that queue ``events`` on an existing document; merge into the write's update."""
    return {
        "$push": {OUTBOX: {"$each": [e.to_document() for e in events]}},
        "$set": {PENDING: True},
        "$inc": {SEQ: 1},
    }


def pending_events(doc: Document | None) -> list[Envelope]:
    """Events queued on ``doc`` and not yet published. A write that deletes a document carries them over
    into the record of the ending it writes first, so that deleting never loses them (a copy the relay
    publishes meanwhile is deduplicated by its message id)."""
    if not doc or not doc.get(PENDING):
        return []
    return [Envelope.from_document(e) for e in doc.get(OUTBOX, [])]


def merge_updates(*updates: Document) -> Document:
    """Merge update documents operator by operator (fields must not overlap)."""
    merged: dict[str, dict[str, Any]] = {}
    for update in updates:
        for operator, fields in update.items():
            merged.setdefault(operator, {}).update(fields)
    return merged


def outbox_indexes(collections: Sequence[str]) -> list[IndexSpec]:
    return [IndexSpec(c, [(PENDING, 1)], name="outbox_pending") for c in collections]


class Publisher(Protocol):
    async def publish(self, envelope: Envelope) -> None: ...


class OutboxWake(Protocol):
    """How a repository tells the relay it queued events: with the document, or without (a full sweep)."""

    def __call__(self, collection: str | None = None, doc_id: Any = None) -> None: ...


# Hints kept at most between two passes; beyond it the relay falls back to a full sweep.
MAX_HINTS = 10_000


class OutboxRelay(SweepingWorker):
    """Publishes pending events of the given collections; woken on each write, and sweeping."""

    def __init__(
        self,
        db: AsyncDatabase[Document],
        collections: Sequence[str],
        publisher: Publisher,
        *,
        sweep_seconds: float = 2.0,
        full_sweep_seconds: float = 30.0,
        batch_size: int = 100,
    ) -> None:
        super().__init__(sweep_seconds=sweep_seconds)
        self._db = db
        self._collections = list(collections)
        self._publisher = publisher
        self._batch_size = batch_size
        self._backlog = 0
        self._full_sweep_seconds = full_sweep_seconds
        self._hints: dict[tuple[str, Any], None] = {}  # in wake order, which is write order
        self._full_due = True
        self._last_full = 0.0
        _meter.create_observable_gauge(
            "guild.outbox.backlog",
            callbacks=[lambda _: [metrics.Observation(self._backlog)]],
            description="documents with unpublished events at the last sweep",
        )

    def wake(self, collection: str | None = None, doc_id: Any = None) -> None:
        """Publish ``doc_id``'s events in ``collection`` now; without them, sweep every collection."""
        if collection is not None and collection not in self._collections:
            # A store whose collection the relay does not sweep would leave its events unpublished
            # after a crash; declaring it in the store's ``SCHEMA`` is the fix.
            raise ValueError(f"the outbox relay does not sweep {collection!r}")
        if collection is None or doc_id is None or len(self._hints) >= MAX_HINTS:
            self._full_due = True
        else:
            self._hints[(collection, doc_id)] = None
        super().wake()

    async def sweep(self) -> bool:
        hints, self._hints = self._hints, {}
        now = time.monotonic()
        full = self._full_due or now - self._last_full >= self._full_sweep_seconds
        try:
            if full:
                self._full_due = False
                self._last_full = now
                await self.drain()
            else:
                await self._publish_hinted(hints)
        except BaseException:
            self._full_due = True  # what a failed pass left is found by the next, full, one
            raise
        return False

    async def _publish_hinted(self, hints: dict[tuple[str, Any], None]) -> int:
        published = 0
        for name, doc_id in hints:
            doc = await self._db[name].find_one({"_id": doc_id, PENDING: True}, {OUTBOX: 1, SEQ: 1})
            if doc is not None:
                published += await self._publish_document(name, doc)
        return published

    async def drain(self) -> int:
        """Publish everything pending now; returns the number of events published.

        Each round reads up to a batch of pending documents from every collection and publishes them in
        the order of their oldest pending event, so that events written one after another in different
        documents (a question, then its answer) go out in that order after an outage too."""
        published = 0
        backlog = 0
        while True:
            pending: list[tuple[str, Document]] = []
            more = False
            for name in self._collections:
                cursor = self._db[name].find({PENDING: True}, {OUTBOX: 1, SEQ: 1}).limit(self._batch_size)
                docs = await cursor.to_list()
                more = more or len(docs) == self._batch_size
                pending.extend((name, doc) for doc in docs)
            backlog = backlog or len(pending)
            for name, doc in sorted(pending, key=_oldest_event_time):
                published += await self._publish_document(name, doc)
            if not more:
                break
        self._backlog = backlog
        return published

    async def _publish_document(self, collection: str, doc: Document) -> int:
        events = [Envelope.from_document(e) for e in doc.get(OUTBOX, [])]
        for envelope in events:
            await self._publisher.publish(envelope)
            _published.add(1, {"event.type": envelope.type})
        cleared = await self._db[collection].update_one(
            {"_id": doc["_id"], SEQ: doc.get(SEQ, 0)},
            {"$set": {OUTBOX: [], PENDING: False}},
        )
        if cleared.matched_count == 0 and doc.get(OUTBOX):
            # Writes queued more events meanwhile: remove just the published ones (exact values, as read),
            # so that a document written without pause still sheds what went out; the rest stay pending.
            await self._db[collection].update_one({"_id": doc["_id"]}, {"$pullAll": {OUTBOX: doc[OUTBOX]}})
        return len(events)


def _oldest_event_time(pending: tuple[str, Document]) -> datetime:
    events = pending[1].get(OUTBOX) or []
    times = [e["time"] for e in events if isinstance(e.get("time"), datetime)]
    return min(times, default=_EPOCH)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
