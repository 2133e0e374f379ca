"""Learning records: events become xAPI statements, queued once per Learning Record Store and sent by
one worker per store.

:data:`LEARNING_EVENTS` says which events are learning activity (one entry per event type). The
recorder writes each statement once per endpoint (idempotent by ``<endpoint>:<statement id>``) unless
the member or the community opted out; each endpoint's :class:`StatementDelivery` claims due
statements with a lease in the store (so replicas never send the same statement at once), sends them
in batches, and backs off on its own when its store fails, so one store that is down holds up no other.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from guild.events.v1 import community_events_pb2 as community
from guild.events.v1 import content_events_pb2 as content
from guild.events.v1 import reputation_events_pb2 as reputation
from guild_common.clock import utc_now
from guild_common.events.envelope import GLOBAL, Envelope
from guild_common.sweeper import SweepingWorker
from guild_notify.app.email_delivery import retry_delay
from guild_notify.app.ports import PreferencesStore
from guild_notify.domain import xapi
from guild_notify.domain.xapi import (
    Endpoint,
    Kind,
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


def _event(
    envelope: Envelope,
    kind: Kind,
    actor_id: str,
    community_id: str,
    obj: xapi.Activity,
    *,
    parent: xapi.Activity | None = None,
    other: xapi.Activity | None = None,
    score: xapi.Score | None = None,
) -> LearningEvent:
    region, programme = envelope.region, envelope.programme
    return LearningEvent(
        event_id=envelope.id,
        kind=kind,
        time=envelope.time,
        actor_id=actor_id,
        community_id=community_id,
        object=obj,
        region="" if region == GLOBAL else region,
        programme="" if programme == GLOBAL else programme,
        parent=parent,
        other=other,
        score=score,
    )


def _question_asked(envelope: Envelope) -> LearningEvent:
    e = envelope.payload(content.QuestionAsked)
    return _event(
        envelope, Kind.QUESTION_ASKED, e.author_id, e.community_id, xapi.question(e.question_id, e.title)
    )


def _answer_posted(envelope: Envelope) -> LearningEvent:
    e = envelope.payload(content.AnswerPosted)
    return _event(
        envelope,
        Kind.ANSWER_POSTED,
        e.author_id,
        e.community_id,
        xapi.question(e.question_id, e.question_title),
        other=xapi.answer(e.answer_id),
    )


def _answer_accepted(envelope: Envelope) -> LearningEvent:
    e = envelope.payload(content.AnswerAccepted)
    return _event(
        envelope,
        Kind.ANSWER_ACCEPTED,
        e.accepted_by,
        e.community_id,
        xapi.answer(e.answer_id),
        parent=xapi.question(e.question_id, e.question_title),
    )


def _comment_posted(envelope: Envelope) -> LearningEvent:
    e = envelope.payload(content.CommentPosted)
    on_answer = e.post_kind == "answer"
    target = xapi.answer(e.post_id) if on_answer else xapi.question(e.post_id)
    parent = xapi.question(e.question_id) if on_answer and e.question_id else None
    return _event(envelope, Kind.COMMENT_POSTED, e.author_id, e.community_id, target, parent=parent)


def _resource_shared(envelope: Envelope) -> LearningEvent:
    e = envelope.payload(content.ResourceShared)
    return _event(
        envelope,
        Kind.RESOURCE_SHARED,
        e.author_id,
        e.community_id,
        xapi.resource(e.resource_id, e.title, e.url),
    )


def _item_rated(envelope: Envelope) -> LearningEvent | None:
    e = envelope.payload(content.ItemRated)
    if not 1 <= e.stars <= 5:
        return None
    return _event(
        envelope,
        Kind.ITEM_RATED,
        e.rater_id,
        e.community_id,
        xapi.resource(e.item_id),
        score=xapi.Score(raw=e.stars, min=1, max=5),
    )


def _collection_followed(envelope: Envelope) -> LearningEvent:
    e = envelope.payload(content.CollectionFollowed)
    return _event(
        envelope, Kind.COLLECTION_FOLLOWED, e.follower_id, e.community_id, xapi.collection(e.collection_id)
    )


def _badge_awarded(envelope: Envelope) -> LearningEvent:
    e = envelope.payload(reputation.BadgeAwarded)
    name = f"custom/{e.definition_id}" if e.badge == "custom" and e.definition_id else e.badge
    return _event(
        envelope,
        Kind.BADGE_EARNED,
        e.member_id,
        e.community_id,
        xapi.badge(e.community_id, name, e.tier, e.title),
    )


def _survey_response_submitted(envelope: Envelope) -> LearningEvent:
    e = envelope.payload(community.SurveyResponseSubmitted)
    return _event(envelope, Kind.SURVEY_RESPONDED, e.member_id, e.community_id, xapi.survey(e.survey_id))


def _member_joined(envelope: Envelope) -> LearningEvent:
    e = envelope.payload(community.MemberJoined)
    return _event(
        envelope, Kind.COMMUNITY_JOINED, e.member_id, e.community_id, xapi.community(e.community_id)
    )


LearningRule = Callable[[Envelope], LearningEvent | None]

LEARNING_EVENTS: dict[str, LearningRule] = {
    "guild.content.question_asked.v1": _question_asked,
    "guild.content.answer_posted.v1": _answer_posted,
    "guild.content.answer_accepted.v1": _answer_accepted,
    "guild.content.comment_posted.v1": _comment_posted,
    "guild.content.resource_shared.v1": _resource_shared,
    "guild.content.item_rated.v1": _item_rated,
    "guild.content.collection_followed.v1": _collection_followed,
    "guild.reputation.badge_awarded.v1": _badge_awarded,
    "guild.community.survey_response_submitted.v1": _survey_response_submitted,
    "guild.community.member_joined.v1": _member_joined,
}


class StatementQueue(Protocol):
    async def enqueue(self, endpoints: Sequence[str], statement_id: str, body: str, now: datetime) -> int:
        """Queue the statement for each endpoint that does not hold it yet; how many were new."""
        ...

    async def claim(
        self, endpoint: str, now: datetime, limit: int, lease: timedelta
    ) -> list[QueuedStatement]:
        """Take up to ``limit`` due statements of ``endpoint`` for ``lease``; no other claim gets them
        until the lease runs out or they are settled."""
        ...

    async def settle(self, outcomes: Sequence[Outcome], now: datetime) -> None:
        """Record the outcomes of claimed statements (those still held by their claim)."""
        ...

    async def next_due(self, endpoint: str) -> datetime | None: ...


class StatementSender(Protocol):
    async def send(self, endpoint: Endpoint, body: bytes) -> int:
        """POST a JSON array of statements; the status code. Raises when no response comes."""
        ...


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
        rules: dict[str, LearningRule] | None = None,
    ) -> None:
        self._queue = queue
        self._preferences = preferences
        self._profile = profile
        self._endpoints = list(endpoints)
        self._opt_outs = opt_outs
        self._rules = LEARNING_EVENTS if rules is None else rules
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
