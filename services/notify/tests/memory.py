"""In-memory implementations of every notify port (``guild_notify.app.ports``), for the fast app-layer tests.

They keep the contract of the MongoDB stores where a use case can see it (``test_store_contract`` runs
the same checks on both): idempotent adds keyed by natural ids, guarded state changes (an email recorded
sent once, a delivery claimed by one sweep, a statement settled only by the claim that holds it, the newer
interest winning), sequences without gaps, keyset pages behind signed tokens in the stores' order.

Notify publishes no events. What would leave the process is recorded instead: the emails a fake mailer
sent, the POSTs of a fake webhook poster or LRS sender, the recipients a live feed was woken for.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from guild_common.clock import utc_now
from guild_common.pagination import Page
from guild_notify.app.ports import OutgoingEmail, Position
from guild_notify.domain.broadcasts import Broadcast, Membership
from guild_notify.domain.digests import ContentItem, Period
from guild_notify.domain.notifications import Notification, NotificationGroup
from guild_notify.domain.preferences import DigestFrequency, Preferences
from guild_notify.domain.questions import QuestionNudge
from guild_notify.domain.webhooks import Attempt, Delivery, DeliveryState, Webhook
from guild_notify.domain.xapi import Endpoint, Outcome, QueuedStatement, StatementState, queued_id
from guild_testing.memory import keyset_page

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(at: datetime) -> int:
    """A time as an exact integer sort key (microseconds since the epoch)."""
    return (at - _EPOCH) // timedelta(microseconds=1)


def _before(at: datetime, item_id: str, position: Position | None) -> bool:
    """Whether (``at``, ``item_id``) comes after ``position`` in newest-first order."""
    return position is None or (at, item_id) < position


# --- inbox -------------------------------------------------------------------------------------------


class MemoryInbox:
    """Notifications keyed by id, numbered per recipient in the order they are stored, with the
    recipient's unread count and the group summaries kept as the Mongo counters keep them."""

    def __init__(self) -> None:
        self.notifications: dict[str, Notification] = {}
        self._sequences: dict[str, int] = {}
        self._groups: dict[str, NotificationGroup] = {}
        self._latest: dict[str, int] = {}

    async def add(self, notification: Notification) -> Notification | None:
        if notification.id in self.notifications:
            return None
        sequence = self._sequences.get(notification.recipient_id, 0) + 1
        self._sequences[notification.recipient_id] = sequence
        stored = notification.with_sequence(sequence)
        self.notifications[stored.id] = stored
        self._count_in_group(stored)
        return stored

    def _count_in_group(self, n: Notification) -> None:
        key = n.group_key
        group = self._groups.get(key)
        unread = 0 if n.read else 1
        if group is None or self._latest[key] < n.sequence:
            self._latest[key] = n.sequence
            self._groups[key] = NotificationGroup(
                key=key,
                recipient_id=n.recipient_id,
                type=n.type,
                community_id=n.community_id,
                subject_id=n.subject_id,
                subject_title=n.subject_title,
                unread_count=(group.unread_count if group else 0) + unread,
                total_count=(group.total_count if group else 0) + 1,
                latest_actor_id=n.actor_id,
                latest_text=n.text,
                update_time=n.create_time,
            )
        else:
            self._groups[key] = replace(
                group, unread_count=group.unread_count + unread, total_count=group.total_count + 1
            )

    def _of(self, recipient_id: str) -> list[Notification]:
        return [n for n in self.notifications.values() if n.recipient_id == recipient_id]

    async def page_after(
        self, recipient_id: str, unread_only: bool, limit: int, position: Position | None
    ) -> list[Notification]:
        found = [
            n
            for n in self._of(recipient_id)
            if (not unread_only or not n.read) and _before(n.create_time, n.id, position)
        ]
        found.sort(key=lambda n: (n.create_time, n.id), reverse=True)
        return found[:limit]

    async def owned(self, recipient_id: str, ids: list[str]) -> set[str]:
        return {
            i for i in ids if i in self.notifications and self.notifications[i].recipient_id == recipient_id
        }

    async def mark_read(self, recipient_id: str, ids: list[str]) -> int:
        marked = 0
        for notification_id in dict.fromkeys(ids):
            n = self.notifications.get(notification_id)
            if n is None or n.recipient_id != recipient_id or n.read:
                continue
            self.notifications[n.id] = replace(n, read=True)
            group = self._groups[n.group_key]
            self._groups[n.group_key] = replace(group, unread_count=group.unread_count - 1)
            marked += 1
        return marked

    async def mark_all_read(self, recipient_id: str) -> int:
        return await self.mark_read(recipient_id, [n.id for n in self._of(recipient_id) if not n.read])

    async def unread_count(self, recipient_id: str) -> int:
        return sum(1 for n in self._of(recipient_id) if not n.read)

    async def groups(
        self, recipient_id: str, unread_only: bool, page_size: int, page_token: str
    ) -> tuple[list[NotificationGroup], str]:
        groups = [
            g
            for g in self._groups.values()
            if g.recipient_id == recipient_id and (not unread_only or g.unread_count > 0)
        ]
        page = keyset_page(
            groups, lambda g: (self._latest[g.key], g.key), page_token, page_size, descending=True
        )
        return list(page.items), page.next_token

    async def after(self, recipient_id: str, sequence: int, limit: int) -> list[Notification]:
        found = sorted((n for n in self._of(recipient_id) if n.sequence > sequence), key=lambda n: n.sequence)
        return found[:limit]

    async def last_sequence(self, recipient_id: str) -> int:
        return self._sequences.get(recipient_id, 0)


class RecordingLive:
    """A live feed that remembers whom it woke, in order."""

    def __init__(self) -> None:
        self.woken: list[str] = []

    def published(self, recipient_id: str) -> None:
        self.woken.append(recipient_id)


# --- preferences -------------------------------------------------------------------------------------


class MemoryPreferences:
    """Preferences per member (only those a member changed are stored), and digest subscribers."""

    def __init__(self) -> None:
        self.stored: dict[str, Preferences] = {}

    async def get(self, member_id: str) -> Preferences:
        return self.stored.get(member_id) or Preferences(member_id=member_id)

    async def change(self, member_id: str, change: Callable[[Preferences], Preferences]) -> Preferences:
        updated = change(await self.get(member_id))
        self.stored[member_id] = updated
        return updated

    async def digest_subscribers(self, frequency: DigestFrequency) -> list[str]:
        return sorted(
            m for m, p in self.stored.items() if p.digest_frequency is frequency and p.email_address
        )


# --- email -------------------------------------------------------------------------------------------


@dataclass
class QueuedEmail:
    email: OutgoingEmail
    status: str = "pending"
    attempts: int = 0
    next_attempt_time: datetime = field(default_factory=utc_now)
    last_error: str = ""


class MemoryEmailOutbox:
    """The email queue (``EmailQueue``) and its outbox (``EmailOutbox``): one entry per email id."""

    def __init__(self, on_enqueue: Callable[[], None] = lambda: None) -> None:
        self.emails: dict[str, QueuedEmail] = {}
        self._on_enqueue = on_enqueue

    @property
    def queued(self) -> list[OutgoingEmail]:
        """Every email queued, in the order it was queued."""
        return [q.email for q in self.emails.values()]

    async def enqueue(self, email: OutgoingEmail) -> bool:
        if email.id in self.emails:
            return False
        self.emails[email.id] = QueuedEmail(email)
        self._on_enqueue()
        return True

    def _pending(self) -> list[QueuedEmail]:
        return sorted(
            (q for q in self.emails.values() if q.status == "pending"),
            key=lambda q: (q.next_attempt_time, q.email.id),
        )

    async def due(self, now: datetime, limit: int) -> list[tuple[OutgoingEmail, int]]:
        return [(q.email, q.attempts) for q in self._pending() if q.next_attempt_time <= now][:limit]

    async def next_due(self) -> datetime | None:
        pending = self._pending()
        return pending[0].next_attempt_time if pending else None

    async def sent(self, email_id: str, attempts: int, at: datetime) -> None:
        queued = self.emails.get(email_id)
        if queued is not None and queued.status == "pending":
            queued.status, queued.attempts = "sent", attempts

    async def failed(self, email_id: str, attempts: int, retry_at: datetime, error: str) -> None:
        queued = self.emails.get(email_id)
        if queued is not None and queued.status == "pending" and queued.attempts < attempts:
            queued.attempts, queued.next_attempt_time, queued.last_error = attempts, retry_at, error


class RecordingMailer:
    """Keeps each email it is asked to send; raises for the next ``failures`` sends."""

    def __init__(self, failures: int = 0) -> None:
        self.sent: list[OutgoingEmail] = []
        self.failures = failures

    async def send(self, email: OutgoingEmail) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionRefusedError("smtp down")
        self.sent.append(email)


# --- memberships and interests -----------------------------------------------------------------------


class MemoryMemberships:
    def __init__(self) -> None:
        self.memberships: dict[str, Membership] = {}  # by "<community>:<member>"

    async def joined(self, community_id: str, member_id: str, role: str, at: datetime) -> None:
        self.memberships[f"{community_id}:{member_id}"] = Membership(community_id, member_id, role, at)

    async def role_changed(self, community_id: str, member_id: str, role: str, at: datetime) -> None:
        key = f"{community_id}:{member_id}"
        current = self.memberships.get(key)
        joined = current.join_time if current is not None else at
        self.memberships[key] = Membership(community_id, member_id, role, joined)

    async def left(self, community_id: str, member_id: str) -> None:
        self.memberships.pop(f"{community_id}:{member_id}", None)

    async def get(self, community_id: str, member_id: str) -> Membership | None:
        return self.memberships.get(f"{community_id}:{member_id}")

    async def of_member(self, member_id: str) -> list[Membership]:
        return [replace(m, role="") for m in self.memberships.values() if m.member_id == member_id]

    async def with_roles(self, community_id: str, roles: tuple[str, ...], limit: int) -> list[str]:
        keys = sorted(
            k for k, m in self.memberships.items() if m.community_id == community_id and m.role in roles
        )
        return [self.memberships[k].member_id for k in keys[:limit]]

    async def members_among(self, community_id: str, member_ids: list[str]) -> set[str]:
        return {m for m in member_ids if f"{community_id}:{m}" in self.memberships}


class MemoryTagInterests:
    """Follows and declared expertise, each replaced only by a change at least as recent."""

    def __init__(self) -> None:
        self._follows: dict[tuple[str, str], tuple[bool, datetime]] = {}
        self._expertise: dict[str, tuple[list[str], datetime]] = {}

    def _set_follow(self, member_id: str, tag: str, following: bool, at: datetime) -> None:
        current = self._follows.get((tag, member_id))
        if current is None or current[1] <= at:
            self._follows[(tag, member_id)] = (following, at)

    async def followed(self, member_id: str, tag: str, at: datetime) -> None:
        self._set_follow(member_id, tag, True, at)

    async def unfollowed(self, member_id: str, tag: str, at: datetime) -> None:
        self._set_follow(member_id, tag, False, at)

    async def expertise(self, member_id: str, tags: list[str], at: datetime) -> None:
        current = self._expertise.get(member_id)
        if current is None or current[1] <= at:
            self._expertise[member_id] = (list(tags), at)

    async def interested(self, tags: list[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for (tag, member_id), (following, _) in self._follows.items():
            if following and tag in tags:
                found.setdefault(member_id, []).append(tag)
        for member_id, (theirs, _) in self._expertise.items():
            among = [t for t in theirs if t in tags]
            if among:
                found.setdefault(member_id, []).extend(among)
        return found


# --- questions ---------------------------------------------------------------------------------------

PENDING, CANCELLED, SENT = "pending", "cancelled", "sent"


@dataclass
class _NudgeRecord:
    status: str
    nudge: QuestionNudge | None  # None: cancelled before its question arrived


class MemoryNudges:
    def __init__(self) -> None:
        self.records: dict[str, _NudgeRecord] = {}

    def status(self, question_id: str) -> str | None:
        record = self.records.get(question_id)
        return record.status if record is not None else None

    async def schedule(self, nudge: QuestionNudge) -> None:
        record = self.records.get(nudge.question_id)
        if record is None:
            self.records[nudge.question_id] = _NudgeRecord(PENDING, nudge)
        elif record.nudge is None:
            record.nudge = nudge  # answered before it arrived: stays cancelled, with its details

    async def cancel(self, question_id: str, at: datetime) -> None:
        record = self.records.get(question_id)
        if record is None:
            self.records[question_id] = _NudgeRecord(CANCELLED, None)
        elif record.status == PENDING:
            record.status = CANCELLED

    def _pending(self) -> list[QuestionNudge]:
        pending = [r.nudge for r in self.records.values() if r.status == PENDING and r.nudge is not None]
        return sorted(pending, key=lambda n: (n.due_time, n.question_id))

    async def due(self, now: datetime, limit: int) -> list[QuestionNudge]:
        return [n for n in self._pending() if n.due_time <= now][:limit]

    async def next_due(self) -> datetime | None:
        pending = self._pending()
        return pending[0].due_time if pending else None

    async def still_pending(self, question_id: str) -> bool:
        return self.status(question_id) == PENDING

    async def sent(self, question_id: str, at: datetime) -> None:
        record = self.records.get(question_id)
        if record is not None and record.status == PENDING:
            record.status = SENT


# --- broadcasts and digests --------------------------------------------------------------------------


class MemoryBroadcasts:
    """Broadcasts numbered in the order they are stored; per-member reads and read-all cursors."""

    def __init__(self, on_create: Callable[[str], None] = lambda community_id: None) -> None:
        self.broadcasts: dict[str, Broadcast] = {}  # by notification id
        self.reads: set[tuple[str, str]] = set()  # (notification id, member)
        self.cursors: dict[str, datetime] = {}
        self._on_create = on_create

    async def create(self, broadcast: Broadcast) -> Broadcast:
        existing = self.broadcasts.get(broadcast.notification_id)
        if existing is not None:
            return existing
        stored = replace(broadcast, sequence=await self.last_sequence() + 1)
        self.broadcasts[stored.notification_id] = stored
        self._on_create(stored.community_id)
        return stored

    async def last_sequence(self) -> int:
        return max((b.sequence for b in self.broadcasts.values()), default=0)

    @staticmethod
    def _visible(b: Broadcast, since: dict[str, datetime], hidden: frozenset[str]) -> bool:
        joined = since.get(b.community_id)
        return joined is not None and b.create_time >= joined and b.type.value not in hidden

    def _read(self, b: Broadcast, member_id: str) -> bool:
        cursor = self.cursors.get(member_id)
        return (b.notification_id, member_id) in self.reads or (
            cursor is not None and b.create_time <= cursor
        )

    async def after(
        self,
        member_id: str,
        since: dict[str, datetime],
        unread_only: bool,
        limit: int,
        position: Position | None,
        *,
        hidden: frozenset[str] = frozenset(),
    ) -> list[tuple[Broadcast, bool]]:
        found = [
            (b, self._read(b, member_id))
            for b in self.broadcasts.values()
            if self._visible(b, since, hidden) and _before(b.create_time, b.notification_id, position)
        ]
        found = [(b, read) for b, read in found if not (unread_only and read)]
        found.sort(key=lambda item: (item[0].create_time, item[0].notification_id), reverse=True)
        return found[:limit]

    async def stream_after(
        self,
        member_id: str,
        since: dict[str, datetime],
        sequence: int,
        upto: int,
        limit: int,
        *,
        hidden: frozenset[str] = frozenset(),
    ) -> list[tuple[Broadcast, bool]]:
        found = sorted(
            (
                b
                for b in self.broadcasts.values()
                if sequence < b.sequence <= upto and self._visible(b, since, hidden)
            ),
            key=lambda b: b.sequence,
        )
        return [(b, self._read(b, member_id)) for b in found[:limit]]

    async def unread_count(
        self, member_id: str, since: dict[str, datetime], *, hidden: frozenset[str] = frozenset()
    ) -> int:
        return sum(
            1
            for b in self.broadcasts.values()
            if self._visible(b, since, hidden) and not self._read(b, member_id)
        )

    async def visible_ids(
        self, since: dict[str, datetime], ids: list[str], *, hidden: frozenset[str] = frozenset()
    ) -> set[str]:
        return {i for i in ids if i in self.broadcasts and self._visible(self.broadcasts[i], since, hidden)}

    async def mark_read(
        self,
        member_id: str,
        since: dict[str, datetime],
        ids: list[str],
        *,
        hidden: frozenset[str] = frozenset(),
    ) -> int:
        marked = 0
        for notification_id in await self.visible_ids(since, ids, hidden=hidden):
            if not self._read(self.broadcasts[notification_id], member_id):
                self.reads.add((notification_id, member_id))
                marked += 1
        return marked

    async def mark_all_read(
        self, member_id: str, since: dict[str, datetime], *, hidden: frozenset[str] = frozenset()
    ) -> int:
        unread = await self.unread_count(member_id, since, hidden=hidden)
        now = utc_now()
        self.cursors[member_id] = max(self.cursors.get(member_id, now), now)
        return unread


class MemoryContentFeed:
    def __init__(self) -> None:
        self.items: dict[str, ContentItem] = {}

    async def record(self, item: ContentItem) -> None:
        self.items.setdefault(item.id, item)

    async def in_period(
        self, community_ids: list[str], start: datetime, end: datetime, limit: int
    ) -> list[ContentItem]:
        found = [
            i for i in self.items.values() if i.community_id in community_ids and start <= i.create_time < end
        ]
        return sorted(found, key=lambda i: (i.create_time, i.id))[:limit]


class MemoryDigestRuns:
    def __init__(self) -> None:
        self.runs: dict[str, int] = {}

    async def done(self, period: Period) -> bool:
        return f"{period.frequency.value}:{period.key}" in self.runs

    async def mark_done(self, period: Period, emails: int) -> None:
        self.runs.setdefault(f"{period.frequency.value}:{period.key}", emails)


# --- webhooks ----------------------------------------------------------------------------------------


class MemoryWebhooks:
    def __init__(self) -> None:
        self.webhooks: dict[str, Webhook] = {}

    async def create(self, webhook: Webhook) -> Webhook:
        return self.webhooks.setdefault(webhook.id, webhook)

    async def get(self, webhook_id: str) -> Webhook | None:
        return self.webhooks.get(webhook_id)

    async def page(self, owner_id: str, page_size: int, page_token: str) -> tuple[list[Webhook], str]:
        page: Page[Webhook] = keyset_page(
            [w for w in self.webhooks.values() if w.owner_id == owner_id],
            lambda w: (micros(w.create_time), w.id),
            page_token,
            page_size,
        )
        return list(page.items), page.next_token

    async def delete(self, webhook_id: str) -> None:
        self.webhooks.pop(webhook_id, None)

    async def subscribed(self, event_type: str) -> list[Webhook]:
        return [w for w in self.webhooks.values() if event_type in w.event_types]


class MemoryDeliveries:
    def __init__(self) -> None:
        self.deliveries: dict[str, Delivery] = {}

    async def enqueue(self, delivery: Delivery) -> bool:
        if delivery.id in self.deliveries:
            return False
        self.deliveries[delivery.id] = replace(delivery, attempts=(), round_attempts=0)
        return True

    async def get(self, delivery_id: str) -> Delivery | None:
        return self.deliveries.get(delivery_id)

    async def page(self, webhook_id: str, page_size: int, page_token: str) -> tuple[list[Delivery], str]:
        page = keyset_page(
            [d for d in self.deliveries.values() if d.webhook_id == webhook_id],
            lambda d: (micros(d.create_time), d.id),
            page_token,
            page_size,
            descending=True,
        )
        return list(page.items), page.next_token

    def _pending(self, skip_webhooks: Collection[str]) -> list[Delivery]:
        return sorted(
            (
                d
                for d in self.deliveries.values()
                if d.state is DeliveryState.PENDING and d.webhook_id not in skip_webhooks
            ),
            key=lambda d: (d.next_attempt_time, d.id),
        )

    async def due(self, now: datetime, limit: int, skip_webhooks: Collection[str] = ()) -> list[Delivery]:
        return [d for d in self._pending(skip_webhooks) if d.next_attempt_time <= now][:limit]

    async def next_due(self, skip_webhooks: Collection[str] = ()) -> datetime | None:
        pending = self._pending(skip_webhooks)
        return pending[0].next_attempt_time if pending else None

    async def claim(self, delivery: Delivery, now: datetime, until: datetime) -> bool:
        stored = self.deliveries.get(delivery.id)
        if (
            stored is None
            or stored.state is not DeliveryState.PENDING
            or stored.next_attempt_time != delivery.next_attempt_time
        ):
            return False
        self.deliveries[delivery.id] = replace(stored, next_attempt_time=until)
        return True

    async def record(
        self,
        delivery_id: str,
        attempt: Attempt,
        state: DeliveryState,
        next_attempt_time: datetime,
        round_attempts: int,
    ) -> None:
        stored = self.deliveries.get(delivery_id)
        if stored is not None:
            self.deliveries[delivery_id] = replace(
                stored,
                state=state,
                next_attempt_time=next_attempt_time,
                round_attempts=round_attempts,
                attempts=(*stored.attempts, attempt),
            )

    async def replay(self, delivery_id: str, now: datetime) -> Delivery:
        stored = self.deliveries[delivery_id]
        replayed = replace(stored, state=DeliveryState.PENDING, next_attempt_time=now, round_attempts=0)
        self.deliveries[delivery_id] = replayed
        return replayed


@dataclass(frozen=True)
class Post:
    url: str
    body: bytes
    headers: dict[str, str]


class RecordingPoster:
    """Answers each POST with the next planned status (the last one repeats); an exception in the plan
    is raised instead, as when no response comes."""

    def __init__(self, *plan: int | Exception) -> None:
        self.plan: list[int | Exception] = list(plan) or [200]
        self.posts: list[Post] = []

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        self.posts.append(Post(url, body, headers))
        answer = self.plan.pop(0) if len(self.plan) > 1 else self.plan[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


# --- learning records --------------------------------------------------------------------------------


@dataclass
class _Statement:
    queued: QueuedStatement
    state: StatementState
    next_attempt_time: datetime
    error: str = ""


class MemoryStatementQueue:
    def __init__(self) -> None:
        self.statements: dict[str, _Statement] = {}

    def state(self, endpoint: str, statement_id: str) -> tuple[StatementState, int] | None:
        s = self.statements.get(queued_id(endpoint, statement_id))
        return (s.state, s.queued.attempts) if s is not None else None

    async def enqueue(self, endpoints: Sequence[str], statement_id: str, body: str, now: datetime) -> int:
        new = 0
        for endpoint in endpoints:
            key = queued_id(endpoint, statement_id)
            if key not in self.statements:
                queued = QueuedStatement(key, endpoint, statement_id, body, attempts=0)
                self.statements[key] = _Statement(queued, StatementState.PENDING, now)
                new += 1
        return new

    def _pending(self, endpoint: str) -> list[_Statement]:
        return sorted(
            (
                s
                for s in self.statements.values()
                if s.queued.endpoint == endpoint and s.state is StatementState.PENDING
            ),
            key=lambda s: (s.next_attempt_time, s.queued.id),
        )

    async def claim(
        self, endpoint: str, now: datetime, limit: int, lease: timedelta
    ) -> list[QueuedStatement]:
        token = uuid.uuid4().hex
        claimed = []
        for s in [s for s in self._pending(endpoint) if s.next_attempt_time <= now][:limit]:
            s.queued = replace(s.queued, lease=token)
            s.next_attempt_time = now + lease
            claimed.append(s.queued)
        return claimed

    async def settle(self, outcomes: Sequence[Outcome], now: datetime) -> None:
        for o in outcomes:
            s = self.statements.get(o.statement.id)
            if s is None or s.queued.lease != o.statement.lease:
                continue  # the claim ran out and another took it
            s.queued = replace(s.queued, attempts=o.attempts, lease="")
            s.state, s.next_attempt_time, s.error = o.state, o.next_attempt_time, o.error

    async def next_due(self, endpoint: str) -> datetime | None:
        pending = self._pending(endpoint)
        return pending[0].next_attempt_time if pending else None


class RecordingStatementSender:
    """Answers each batch with the next planned status (the last one repeats), or per statement count
    by ``answer`` when given."""

    def __init__(self, *plan: int | Exception, answer: Callable[[bytes], int] | None = None) -> None:
        self.plan: list[int | Exception] = list(plan) or [200]
        self.batches: list[tuple[str, bytes]] = []
        self._answer = answer

    async def send(self, endpoint: Endpoint, body: bytes) -> int:
        self.batches.append((endpoint.name, body))
        if self._answer is not None:
            return self._answer(body)
        answer = self.plan.pop(0) if len(self.plan) > 1 else self.plan[0]
        if isinstance(answer, Exception):
            raise answer
        return answer
