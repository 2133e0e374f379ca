"""What the notify use cases need from storage and delivery."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from guild_common.pagination import Page
from guild_notify.domain.broadcasts import Broadcast, Membership
from guild_notify.domain.digests import (
    ContentItem,
    Period,
)
from guild_notify.domain.notifications import Notification, NotificationGroup
from guild_notify.domain.preferences import DigestFrequency, Preferences
from guild_notify.domain.questions import QuestionNudge
from guild_notify.domain.webhooks import (
    Attempt,
    Delivery,
    DeliveryState,
    Webhook,
)
from guild_notify.domain.xapi import (
    Endpoint,
    Outcome,
    QueuedStatement,
)

# A keyset position in an inbox: (create time, id) of the last notification seen.
Position = tuple[datetime, str]


@dataclass(frozen=True)
class InboxPage(Page[Notification]):
    """A page of the inbox with the member's unread count beside it."""

    unread_count: int = 0


class Inbox(Protocol):
    async def add(self, notification: Notification) -> Notification | None:
        """Store it with the recipient's next sequence unless it exists; None for a duplicate."""
        ...

    async def page_after(
        self, recipient_id: str, unread_only: bool, limit: int, position: Position | None
    ) -> list[Notification]:
        """Up to ``limit`` notifications after ``position`` (create time, id), newest first."""
        ...

    async def owned(self, recipient_id: str, ids: list[str]) -> set[str]:
        """Which of ``ids`` belong to ``recipient_id``."""
        ...

    async def mark_read(self, recipient_id: str, ids: list[str]) -> int: ...

    async def mark_all_read(self, recipient_id: str) -> int: ...

    async def unread_count(self, recipient_id: str) -> int: ...

    async def groups(
        self, recipient_id: str, unread_only: bool, page_size: int, page_token: str
    ) -> tuple[list[NotificationGroup], str]: ...

    async def after(self, recipient_id: str, sequence: int, limit: int) -> list[Notification]:
        """The recipient's notifications with a sequence above ``sequence``, in sequence order."""
        ...

    async def last_sequence(self, recipient_id: str) -> int: ...


class PreferencesStore(Protocol):
    async def get(self, member_id: str) -> Preferences: ...

    async def change(self, member_id: str, change: Callable[[Preferences], Preferences]) -> Preferences:
        """Apply ``change`` to the stored preferences (defaults if none) without losing a concurrent one."""
        ...


@dataclass(frozen=True)
class OutgoingEmail:
    """An email waiting to be sent; its id is the notification's, so a redelivered event queues it once."""

    id: str
    to: str
    subject: str
    text: str
    html: str
    create_time: datetime


class EmailQueue(Protocol):
    async def enqueue(self, email: OutgoingEmail) -> bool:
        """Queue it unless queued already; False for a duplicate."""
        ...


class LiveFeed(Protocol):
    def published(self, recipient_id: str) -> None:
        """Wake the recipient's open streams: something new is stored."""
        ...


class Memberships(Protocol):
    """Who belongs to which community, with which role: a read model fed by community events."""

    async def joined(self, community_id: str, member_id: str, role: str, at: datetime) -> None: ...

    async def role_changed(self, community_id: str, member_id: str, role: str, at: datetime) -> None: ...

    async def left(self, community_id: str, member_id: str) -> None: ...

    async def get(self, community_id: str, member_id: str) -> Membership | None: ...

    async def of_member(self, member_id: str) -> list[Membership]: ...

    async def with_roles(self, community_id: str, roles: tuple[str, ...], limit: int) -> list[str]:
        """Up to ``limit`` members of the community holding one of ``roles``."""
        ...

    async def members_among(self, community_id: str, member_ids: list[str]) -> set[str]:
        """Which of ``member_ids`` belong to the community."""
        ...


class TagInterests(Protocol):
    """Who follows which tags and who declared expertise in them: read models fed by events."""

    async def followed(self, member_id: str, tag: str, at: datetime) -> None: ...

    async def unfollowed(self, member_id: str, tag: str, at: datetime) -> None: ...

    async def expertise(self, member_id: str, tags: list[str], at: datetime) -> None:
        """Replace the member's declared expertise tags, unless a newer change is stored."""
        ...

    async def interested(self, tags: list[str]) -> dict[str, list[str]]:
        """Members following or expert in any of ``tags``, each with their tags among them."""
        ...


class NudgeStore(Protocol):
    """Unanswered-question nudges: scheduled when a question is asked, cancelled by its first answer
    or its removal."""

    async def schedule(self, nudge: QuestionNudge) -> None:
        """Keep it pending until due, unless it exists or the question was answered already."""
        ...

    async def cancel(self, question_id: str, at: datetime) -> None:
        """Never send it (also when the question has not arrived yet)."""
        ...

    async def due(self, now: datetime, limit: int) -> list[QuestionNudge]: ...

    async def next_due(self) -> datetime | None: ...

    async def still_pending(self, question_id: str) -> bool: ...

    async def sent(self, question_id: str, at: datetime) -> None: ...


class BroadcastStore(Protocol):
    """``since`` maps each community a member sees broadcasts of to the time they joined it; ``hidden``
    names the notice types the member turned off in the inbox."""

    async def create(self, broadcast: Broadcast) -> Broadcast:
        """Store it, or return the one stored under its id already."""
        ...

    async def after(
        self,
        member_id: str,
        since: dict[str, datetime],
        unread_only: bool,
        limit: int,
        position: Position | None,
        *,
        hidden: frozenset[str] = frozenset(),
    ) -> list[tuple[Broadcast, bool]]: ...

    async def last_sequence(self) -> int:
        """The highest broadcast sequence stored (every lower one is stored too)."""
        ...

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
        """Visible broadcasts numbered in (``sequence``, ``upto``], in sequence order, with read flags."""
        ...

    async def unread_count(
        self, member_id: str, since: dict[str, datetime], *, hidden: frozenset[str] = frozenset()
    ) -> int: ...

    async def visible_ids(
        self, since: dict[str, datetime], ids: list[str], *, hidden: frozenset[str] = frozenset()
    ) -> set[str]: ...

    async def mark_read(
        self,
        member_id: str,
        since: dict[str, datetime],
        ids: list[str],
        *,
        hidden: frozenset[str] = frozenset(),
    ) -> int: ...

    async def mark_all_read(
        self, member_id: str, since: dict[str, datetime], *, hidden: frozenset[str] = frozenset()
    ) -> int: ...


class Subscribers(Protocol):
    async def digest_subscribers(self, frequency: DigestFrequency) -> list[str]: ...


class ContentFeed(Protocol):
    async def record(self, item: ContentItem) -> None:
        """Keep it, once per id."""
        ...

    async def in_period(
        self, community_ids: list[str], start: datetime, end: datetime, limit: int
    ) -> list[ContentItem]: ...


class DigestRuns(Protocol):
    async def done(self, period: Period) -> bool: ...

    async def mark_done(self, period: Period, emails: int) -> None: ...


class EmailOutbox(Protocol):
    async def due(self, now: datetime, limit: int) -> list[tuple[OutgoingEmail, int]]:
        """Pending emails whose next attempt is due, with the attempts made so far."""
        ...

    async def next_due(self) -> datetime | None: ...

    async def sent(self, email_id: str, attempts: int, at: datetime) -> None: ...

    async def failed(self, email_id: str, attempts: int, retry_at: datetime, error: str) -> None: ...


class Mailer(Protocol):
    async def send(self, email: OutgoingEmail) -> None: ...


class WebhookStore(Protocol):
    async def create(self, webhook: Webhook) -> Webhook:
        """Store it, or return the one stored under its id already."""
        ...

    async def get(self, webhook_id: str) -> Webhook | None: ...

    async def page(self, owner_id: str, page_size: int, page_token: str) -> tuple[list[Webhook], str]: ...

    async def delete(self, webhook_id: str) -> None: ...

    async def subscribed(self, event_type: str) -> list[Webhook]: ...


class DeliveryStore(Protocol):
    async def enqueue(self, delivery: Delivery) -> bool: ...

    async def get(self, delivery_id: str) -> Delivery | None: ...

    async def page(self, webhook_id: str, page_size: int, page_token: str) -> tuple[list[Delivery], str]: ...

    async def due(self, now: datetime, limit: int, skip_webhooks: Collection[str] = ()) -> list[Delivery]:
        """Pending deliveries due by ``now``, oldest first, but none for the webhooks named."""
        ...

    async def next_due(self, skip_webhooks: Collection[str] = ()) -> datetime | None: ...

    async def claim(self, delivery: Delivery, now: datetime, until: datetime) -> bool:
        """Take the delivery for one attempt (False when another sweep took it first)."""
        ...

    async def record(
        self,
        delivery_id: str,
        attempt: Attempt,
        state: DeliveryState,
        next_attempt_time: datetime,
        round_attempts: int,
    ) -> None: ...

    async def replay(self, delivery_id: str, now: datetime) -> Delivery: ...


class HttpPoster(Protocol):
    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POST and return the status code; raises when no response comes within the deadline."""
        ...


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
