"""Learning records: events become xAPI statements, queued once per Learning Record Store and sent by
one worker per store.

:data:`guild_notify.entrypoints.learning_events.LEARNING_EVENTS` says which events are learning activity
(one entry per event type, read from the CloudEvent: its payload, id, time, region and programme). The
recorder writes each statement once per endpoint (idempotent by ``<endpoint>:<statement id>``) unless
the member or the community opted out; each endpoint's :class:`StatementDelivery` claims due
statements with a lease in the store (so replicas never send the same statement at once), sends them
in batches, and backs off on its own when its store fails, so one store that is down holds up no other.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

import structlog

from guild_common.clock import utc_now
from guild_common.events.envelope import Envelope
from guild_common.sweeper import SweepingWorker
from guild_notify.app.email_delivery import retry_delay
from guild_notify.app.ports import PreferencesStore, StatementQueue, StatementSender
from guild_notify.domain import xapi
from guild_notify.domain.xapi import (
    Endpoint,
    LearningEvent,
    OptOuts,
    Outcome,
    Profile,
    QueuedStatement,
    StatementState,
)

log = structlog.get_logger("guild.notify.xapi")

# The largest batch POSTed to a store at once.
MAX_BATCH = 50


LearningRule = Callable[[Envelope], LearningEvent | None]


EventSink = Callable[[Envelope], Awaitable[None]]


class StatementRecorder:
    """Turns learning events into queued statements, one per endpoint."""

    def __init__(
        self,
        queue: StatementQueue,
        preferences: PreferencesStore,
        profile: Profile,
        endpoints: Sequence[str],
        opt_outs: OptOuts,
        *,
        rules: dict[str, LearningRule],
    ) -> None:
        self._queue = queue
        self._preferences = preferences
        self._profile = profile
        self._endpoints = list(endpoints)
        self._opt_outs = opt_outs
        self._rules = rules
        self.on_queued: Callable[[], None] = lambda: None

    def sinks(self) -> dict[str, EventSink]:
        return {event_type: self.record for event_type in self._rules}

    async def record(self, envelope: Envelope) -> None:
        rule = self._rules.get(envelope.type)
        event = rule(envelope) if rule is not None else None
        if event is None or not event.actor_id or not self._endpoints:
            return
        if self._opt_outs.excludes(event):
            return
        if (await self._preferences.get(event.actor_id)).learning_records_opt_out:
            return
        statement = xapi.build_statement(event, self._profile)
        queued = await self._queue.enqueue(
            self._endpoints, statement["id"], xapi.statement_json(statement), utc_now()
        )
        if queued:
            self.on_queued()


class StatementDelivery(SweepingWorker):
    """Sends one endpoint's statements: batches of due statements claimed with a lease; after a failure
    the endpoint rests (exponential backoff) and each statement tries again later, dead after
    ``max_attempts``."""

    def __init__(
        self,
        endpoint: Endpoint,
        queue: StatementQueue,
        sender: StatementSender,
        *,
        max_attempts: int,
        retry_base_seconds: float,
        retry_max_seconds: float,
        lease_seconds: float,
        sweep_seconds: float = 5.0,
        batch_size: int = MAX_BATCH,
    ) -> None:
        super().__init__(sweep_seconds=sweep_seconds)
        self.endpoint = endpoint
        self._queue = queue
        self._sender = sender
        self._max_attempts = max(1, max_attempts)
        self._base = retry_base_seconds
        self._cap = retry_max_seconds
        self._lease = timedelta(seconds=lease_seconds)
        self._batch = max(1, min(batch_size, MAX_BATCH))
        self._failures = 0
        self._resting_until: datetime | None = None

    def _resting(self, now: datetime) -> bool:
        return self._resting_until is not None and now < self._resting_until

    async def sweep(self) -> bool:
        now = utc_now()
        if self._resting(now):
            return False
        batch = await self._queue.claim(self.endpoint.name, now, self._batch, self._lease)
        if not batch:
            return False
        outcomes = await self._send(batch)
        finished = utc_now()
        await self._queue.settle(outcomes, finished)
        if any(o.state is StatementState.PENDING for o in outcomes):
            self._failures += 1
            self._resting_until = finished + timedelta(
                seconds=retry_delay(self._failures, self._base, self._cap)
            )
            return False
        self._failures, self._resting_until = 0, None
        return len(batch) >= self._batch

    async def seconds_until_due(self) -> float | None:
        now = utc_now()
        if self._resting_until is not None and self._resting(now):
            return (self._resting_until - now).total_seconds()
        upcoming = await self._queue.next_due(self.endpoint.name)
        return None if upcoming is None else (upcoming - now).total_seconds()

    async def _post(self, batch: Sequence[QueuedStatement]) -> tuple[int, str]:
        body = ("[" + ",".join(s.body for s in batch) + "]").encode()
        started = time.perf_counter()
        try:
            status = await self._sender.send(self.endpoint, body)
        except Exception as exc:
            status, error = 0, repr(exc)
        else:
            error = "" if 200 <= status < 300 else f"HTTP {status}"
        log.info(
            "xapi batch",
            endpoint=self.endpoint.name,
            statements=len(batch),
            status=status,
            duration_ms=int((time.perf_counter() - started) * 1000),
            error=error,
        )
        return status, error[:500]

    async def _send(self, batch: Sequence[QueuedStatement]) -> list[Outcome]:
        status, error = await self._post(batch)
        now = utc_now()
        if 200 <= status < 300:
            return [Outcome(s, StatementState.SENT, s.attempts + 1, now) for s in batch]
        if status in (400, 409, 413) and len(batch) > 1:
            # The store rejects a batch whole: one statement it holds already (409) or cannot take
            # (400, 413) would hold back the rest. Each on its own tells them apart.
            outcomes: list[Outcome] = []
            for statement in batch:
                outcomes += await self._send([statement])
            return outcomes
        if len(batch) == 1 and status == 409:
            # the store holds a statement with this id: sent before (a lease that ran out mid-request)
            return [Outcome(batch[0], StatementState.SENT, batch[0].attempts + 1, now)]
        permanent = status in (400, 413)
        return [self._failed(s, now, error, permanent=permanent) for s in batch]

    def _failed(self, statement: QueuedStatement, now: datetime, error: str, *, permanent: bool) -> Outcome:
        attempts = statement.attempts + 1
        if permanent or attempts >= self._max_attempts:
            log.error(
                "xapi statement dead-lettered",
                endpoint=self.endpoint.name,
                statement_id=statement.statement_id,
                attempts=attempts,
                error=error,
            )
            return Outcome(statement, StatementState.DEAD, attempts, now, error)
        delay = timedelta(seconds=retry_delay(attempts, self._base, self._cap))
        return Outcome(statement, StatementState.PENDING, attempts, now + delay, error)
