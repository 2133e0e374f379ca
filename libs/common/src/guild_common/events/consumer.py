"""Durable pull consumers: explicit ack, idempotent by ``ce-id``, bounded redelivery, dead letters."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from opentelemetry import metrics, propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from guild_common.events.envelope import GLOBAL, Envelope
from guild_common.events.streams import stream_name
from guild_common.mongo import Document, IndexSpec

log = structlog.get_logger("guild.consumer")
_tracer = trace.get_tracer("guild.events")
_meter = metrics.get_meter("guild.events")
_consumed = _meter.create_counter("guild.events.consumed", description="events handled, by outcome")
_dead = _meter.create_counter("guild.events.dead_lettered", description="events given up on")

PROCESSED = "processed_events"
DUPLICATE_KEY = 11000
DEAD_LETTERS = "dead_letters"

EventHandler = Callable[[Envelope], Awaitable[None]]
LAG_CHECK_SECONDS = 5.0


class PermanentError(Exception):
    """A handler error that retrying cannot fix: the event goes to the dead letters at once."""


def by_subject(envelope: Envelope) -> str:
    """The default ordering key: the event's subject, the aggregate it is about."""
    return envelope.subject


@dataclass(frozen=True)
class ConsumerSpec:
    """What one durable consumer reads: a producing service's stream, sliced by region and programme.

    ``concurrency`` handlers run at once; messages with the same ``order_key`` are always handled one
    after another in stream order. 1 (the default) handles every message in stream order.
    """

    name: str
    source_service: str
    handlers: dict[str, EventHandler]
    region: str = "*"
    programme: str = "*"
    concurrency: int = 1
    order_key: Callable[[Envelope], str] = by_subject

    @property
    def stream(self) -> str:
        return stream_name(self.source_service)

    @property
    def durable(self) -> str:
        """``<name>_<stream>``, with the slice added when this deployment takes one, so slices stay apart."""
        if self.region == "*" and self.programme == "*":
            return f"{self.name}_{self.stream}"
        region = "all" if self.region == "*" else self.region
        programme = "all" if self.programme == "*" else self.programme
        return f"{self.name}_{region}_{programme}_{self.stream}"

    @property
    def source(self) -> str:
        """The ``ce-source`` of every event on the stream: ``/guild/<service>``."""
        return f"/guild/{self.source_service}"

    @property
    def filter_subject(self) -> str:
        """The slice's own subjects."""
        return f"guild.{self.region}.{self.programme}.{self.source_service}.>"

    @property
    def filter_subjects(self) -> list[str]:
        """What the consumer reads: its slice, and, for a slice, also the events about a person rather than a
        community (profiles, follows), which travel as region and programme ``global`` and concern every
        slice. The two never overlap (no slice is named ``global``), as JetStream requires."""
        if self.region == "*" and self.programme == "*":
            return [self.filter_subject]
        return [self.filter_subject, f"guild.{GLOBAL}.{GLOBAL}.{self.source_service}.>"]


def consumer_indexes() -> list[IndexSpec]:
    return [
        IndexSpec(PROCESSED, [("at", 1)]),
        IndexSpec(DEAD_LETTERS, [("consumer", 1), ("at", -1)]),
    ]


class EventConsumer:
    """Runs one durable pull consumer until stopped."""

    def __init__(
        self,
        js: JetStreamContext,
        db: AsyncDatabase[Document],
        spec: ConsumerSpec,
        *,
        max_deliver: int = 6,
        backoff_seconds: Sequence[float] = (0.5, 2.0, 5.0, 15.0, 30.0),
        batch_size: int = 32,
        ack_wait_seconds: float = 30.0,
        processed_retention: timedelta = timedelta(days=8),
    ) -> None:
        self._js = js
        self._db = db
        self._spec = spec
        self._max_deliver = max_deliver
        self._backoff = list(backoff_seconds) or [1.0]
        self._batch_size = batch_size
        self._ack_wait = ack_wait_seconds
        self._retention = processed_retention
        self._stopping = asyncio.Event()
        self._pending = 0
        _meter.create_observable_gauge(
            "guild.events.consumer.pending",
            callbacks=[lambda _: [metrics.Observation(self._pending, {"consumer": self._spec.durable})]],
            description="messages in the stream this consumer has not yet been delivered (consumer lag)",
        )

    def stop(self) -> None:
        self._stopping.set()

    async def subscribe(self) -> JetStreamContext.PullSubscription:
        config = ConsumerConfig(
            durable_name=self._spec.durable,
            description=f"guild {self._spec.name}: handles {', '.join(sorted(self._spec.handlers))}",
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self._ack_wait,
            max_deliver=self._max_deliver,
        )
        subjects = self._spec.filter_subjects
        if len(subjects) == 1:
            config.filter_subject = subjects[0]
        else:
            config.filter_subjects = subjects
        await self._update_filters(config, subjects)
        return await self._js.pull_subscribe(
            subjects[0], durable=self._spec.durable, stream=self._spec.stream, config=config
        )

    async def _update_filters(self, config: ConsumerConfig, subjects: list[str]) -> None:
        """An existing durable keeps its configuration when subscribed to; bring its subjects up to date
        (a release that widens a slice's subjects must not leave running deployments on the old ones)."""
        try:
            info = await self._js.consumer_info(self._spec.stream, self._spec.durable)
        except NotFoundError:
            return
        current = list(info.config.filter_subjects or []) or (
            [info.config.filter_subject] if info.config.filter_subject else []
        )
        if sorted(current) != sorted(subjects):
            log.info("consumer subjects updated", consumer=self._spec.durable, was=current, now=subjects)
            await self._js.add_consumer(self._spec.stream, config)

    async def run(self) -> None:
        subscription = await self._subscribe_until_ready()
        if subscription is None:
            return
        last_cleanup = datetime.now(UTC)
        last_lag_check = 0.0
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            if loop.time() - last_lag_check > LAG_CHECK_SECONDS:
                last_lag_check = loop.time()
                await self._measure_lag(subscription)
            try:
                messages = await subscription.fetch(self._batch_size, timeout=1.0)
            except (TimeoutError, NatsTimeoutError):
                continue
            except Exception as exc:
                log.warning("fetch failed; retrying", consumer=self._spec.durable, error=repr(exc))
                await self._sleep(1.0)
                continue
            await self.handle_batch(messages)
            if datetime.now(UTC) - last_cleanup > timedelta(hours=1):
                last_cleanup = datetime.now(UTC)
                await self._forget_old_processed()
        await subscription.unsubscribe()

    async def _measure_lag(self, subscription: JetStreamContext.PullSubscription) -> None:
        try:
            info = await subscription.consumer_info()
        except Exception as exc:
            log.debug("consumer info unavailable", consumer=self._spec.durable, error=repr(exc))
            return
        self._pending = int(info.num_pending or 0)

    async def _subscribe_until_ready(self) -> JetStreamContext.PullSubscription | None:
        """Subscribe, retrying (e.g. until the producer has created its stream); None once stopped."""
        delay = 0.5
        while not self._stopping.is_set():
            try:
                return await self.subscribe()
            except Exception as exc:
                log.warning("cannot subscribe yet", consumer=self._spec.durable, error=repr(exc))
                await self._sleep(delay)
                # short enough to start reading soon after the producer creates its stream
                delay = min(delay * 2, 2.0)
        return None

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def handle_batch(self, messages: Sequence[Msg]) -> None:
        """Handle a fetched batch: concurrently up to the spec's bound, in order within each ordering key.

        One query finds the events of the batch handled before (a redelivery), and one insert records
        those handled now, before their acks."""
        parsed: list[tuple[Msg, Envelope]] = []
        for message in messages:
            try:
                envelope = Envelope.from_message(message.subject, message.headers, message.data)
            except ValueError as exc:
                await self._safely(self._dead_letter(message, None, f"malformed envelope: {exc}"), message)
                continue
            if envelope.source != self._spec.source:
                # only the producing service may publish on its stream; an event claiming another
                # source is a forgery or a misrouted event: never handled
                error = f"ce-source {envelope.source!r} is not {self._spec.source!r} of {self._spec.stream}"
                await self._safely(self._dead_letter(message, envelope, error), message)
                continue
            parsed.append((message, envelope))
        try:
            done = await self._processed_before([e for _, e in parsed])
        except Exception as exc:
            log.warning("event handling failed", consumer=self._spec.durable, error=repr(exc), exc_info=exc)
            await self._nak_all([m for m, _ in parsed])
            return
        lanes: dict[str, list[tuple[Msg, Envelope, bool]]] = {}
        for message, envelope in parsed:
            lanes.setdefault(self._spec.order_key(envelope), []).append(
                (message, envelope, envelope.id in done)
            )
        handled: list[tuple[Msg, Envelope]] = []
        limit = asyncio.Semaphore(max(1, self._spec.concurrency))

        async def run_lane(lane: list[tuple[Msg, Envelope, bool]]) -> None:
            async with limit:
                for message, envelope, duplicate in lane:
                    # the same event twice in a batch shares a lane (same key): the second is a duplicate
                    # once the first has been handled
                    seen = duplicate or envelope.id in done
                    if await self._safely(self._handle(message, envelope, duplicate=seen), message):
                        handled.append((message, envelope))
                        done.add(envelope.id)

        await asyncio.gather(*(run_lane(lane) for lane in lanes.values()))
        await self._record_and_ack(handled)

    async def _safely(self, step: Awaitable[bool | None], message: Msg) -> bool:
        """Run one message's step; if the database or NATS fails mid-way, leave it for redelivery."""
        try:
            return bool(await step)
        except Exception as exc:
            log.warning("event handling failed", consumer=self._spec.durable, error=repr(exc), exc_info=exc)
            with contextlib.suppress(Exception):
                await message.nak(delay=self._backoff[0])
            return False

    async def _nak_all(self, messages: Sequence[Msg]) -> None:
        for message in messages:
            with contextlib.suppress(Exception):
                await message.nak(delay=self._backoff[0])

    async def _processed_before(self, envelopes: Sequence[Envelope]) -> set[str]:
        handled = [e for e in envelopes if e.type in self._spec.handlers]
        if not handled:
            return set()
        keys = [self._key(e.id) for e in handled]
        cursor = self._db[PROCESSED].find({"_id": {"$in": keys}}, {"_id": 1})
        prefix = len(self._key(""))
        return {doc["_id"][prefix:] async for doc in cursor}

    async def _record_and_ack(self, handled: Sequence[tuple[Msg, Envelope]]) -> None:
        if not handled:
            return
        now = datetime.now(UTC)
        try:
            await self._db[PROCESSED].insert_many(
                [{"_id": self._key(e.id), "at": now} for _, e in handled], ordered=False
            )
        except BulkWriteError as exc:
            if any(error.get("code") != DUPLICATE_KEY for error in exc.details.get("writeErrors", [])):
                log.warning(
                    "event handling failed", consumer=self._spec.durable, error=repr(exc), exc_info=exc
                )
                await self._nak_all([m for m, _ in handled])
                return
        except Exception as exc:
            log.warning("event handling failed", consumer=self._spec.durable, error=repr(exc), exc_info=exc)
            await self._nak_all([m for m, _ in handled])
            return
        for message, _ in handled:
            with contextlib.suppress(Exception):
                await message.ack()

    def _key(self, event_id: str) -> str:
        return f"{self._spec.durable}:{event_id}"

    async def _handle(self, message: Msg, envelope: Envelope, *, duplicate: bool) -> bool:
        """Handle one message: ack it, nak it with backoff, or dead-letter it. Returns True when its handler
        ran and it waits for the batch to record it as processed and ack it."""
        parent = propagate.extract(message.headers or {})
        with (
            _tracer.start_as_current_span(
                f"{message.subject} process",
                context=parent,
                kind=SpanKind.CONSUMER,
                attributes={
                    "messaging.system": "nats",
                    "messaging.operation.type": "process",
                    "messaging.destination.name": message.subject,
                    "messaging.message.id": envelope.id,
                    "messaging.consumer.group.name": self._spec.durable,
                    "cloudevents.event_type": envelope.type,
                },
            ) as span,
            structlog.contextvars.bound_contextvars(
                event_type=envelope.type, event_id=envelope.id, consumer=self._spec.durable
            ),
        ):
            outcome = await self._process(message, envelope, duplicate)
            span.set_attribute("guild.outcome", outcome)
            if outcome in ("retry", "dead_letter"):
                span.set_status(Status(StatusCode.ERROR))
            _consumed.add(1, {"consumer": self._spec.durable, "outcome": outcome})
            log.info("event", outcome=outcome)
        return outcome == "handled"

    async def _process(self, message: Msg, envelope: Envelope, duplicate: bool) -> str:
        handler = self._spec.handlers.get(envelope.type)
        if handler is None:
            await message.ack()
            return "ignored"
        if duplicate:
            await message.ack()
            return "duplicate"
        try:
            await handler(envelope)
        except PermanentError as exc:
            await self._dead_letter(message, envelope, str(exc))
            return "dead_letter"
        except Exception as exc:
            delivered = message.metadata.num_delivered if message.metadata else 1
            if delivered >= self._max_deliver:
                log.error(
                    "handler failed for the last time", error=repr(exc), exc_info=exc, attempt=delivered
                )
                await self._dead_letter(message, envelope, repr(exc))
                return "dead_letter"
            delay = self._backoff[min(delivered - 1, len(self._backoff) - 1)]
            log.warning(
                "handler failed; will retry",
                error=repr(exc),
                exc_info=exc,
                attempt=delivered,
                retry_in_s=delay,
            )
            await message.nak(delay=delay)
            return "retry"
        return "handled"

    async def _dead_letter(self, message: Msg, envelope: Envelope | None, error: str) -> None:
        record: dict[str, Any] = {
            "consumer": self._spec.durable,
            "topic": message.subject,
            "headers": dict(message.headers or {}),
            "data": message.data,
            "event_id": envelope.id if envelope else None,
            "event_type": envelope.type if envelope else None,
            "error": error,
            "attempts": message.metadata.num_delivered if message.metadata else 1,
            "at": datetime.now(UTC),
        }
        await self._db[DEAD_LETTERS].insert_one(record)
        _dead.add(1, {"consumer": self._spec.durable})
        log.error("event dead-lettered", error=error)
        await message.term()

    async def _forget_old_processed(self) -> None:
        cutoff = datetime.now(UTC) - self._retention
        await self._db[PROCESSED].delete_many({"at": {"$lt": cutoff}})
