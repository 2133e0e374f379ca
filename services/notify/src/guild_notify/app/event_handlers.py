"""Which events notify whom: one entry per event type in :data:`RULES`.

A rule turns an event into the notifications it causes (pure, no I/O); :class:`NotificationEvents`
delivers them through the :class:`Notifier`, idempotent by (event, recipient, type), and hands every
event of :data:`WEBHOOK_EVENT_TYPES` to the webhook fan-out. A new event type is one entry in either.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from guild.events.v1 import community_events_pb2 as community
from guild.events.v1 import content_events_pb2 as content
from guild_common.events.consumer import EventHandler
from guild_common.events.envelope import Envelope
from guild_notify.app.digests import ContentFeed
from guild_notify.app.notifier import Notifier
from guild_notify.app.ports import Memberships
from guild_notify.domain import model
from guild_notify.domain.digests import ContentItem
from guild_notify.domain.model import Notification

Rule = Callable[[Envelope], list[Notification]]


def _some(n: Notification | None) -> list[Notification]:
    return [n] if n is not None else []


def _answer_posted(envelope: Envelope) -> list[Notification]:
    e = envelope.payload(content.AnswerPosted)
    return _some(
        model.new_answer(
            event_id=envelope.id,
            question_id=e.question_id,
            question_title=e.question_title,
            question_author=e.question_author_id,
            answer_author=e.author_id,
            community_id=e.community_id,
            time=envelope.time,
        )
    )


def _answer_accepted(envelope: Envelope) -> list[Notification]:
    e = envelope.payload(content.AnswerAccepted)
    return _some(
        model.answer_accepted(
            event_id=envelope.id,
            question_id=e.question_id,
            question_title=e.question_title,
            answer_author=e.answer_author_id,
            accepted_by=e.accepted_by,
            community_id=e.community_id,
            time=envelope.time,
        )
    )


def _vote_changed(envelope: Envelope) -> list[Notification]:
    e = envelope.payload(content.VoteChanged)
    return _some(
        model.vote_milestone(
            event_id=envelope.id,
            target_kind=e.target_kind,
            target_id=e.target_id,
            community_id=e.community_id,
            author_id=e.target_author_id,
            voter_id=e.voter_id,
            previous_score=int(e.score) - (e.value - e.previous_value),
            score=int(e.score),
            time=envelope.time,
        )
    )


def _post_removed(envelope: Envelope) -> list[Notification]:
    e = envelope.payload(content.PostRemoved)
    return _some(
        model.post_removed(
            event_id=envelope.id,
            post_id=e.post_id,
            kind=e.kind,
            community_id=e.community_id,
            author_id=e.author_id,
            removed_by=e.removed_by,
            reason=e.reason,
            by_moderator=e.by_moderator,
            time=envelope.time,
        )
    )


def _role_granted(envelope: Envelope) -> list[Notification]:
    e = envelope.payload(community.RoleGranted)
    return _some(
        model.role_granted(
            event_id=envelope.id,
            community_id=e.community_id,
            member_id=e.member_id,
            role=e.role,
            granted_by=e.granted_by,
            time=envelope.time,
        )
    )


RULES: dict[str, Rule] = {
    "guild.content.answer_posted.v1": _answer_posted,
    "guild.content.answer_accepted.v1": _answer_accepted,
    "guild.content.vote_changed.v1": _vote_changed,
    "guild.content.post_removed.v1": _post_removed,
    "guild.community.role_granted.v1": _role_granted,
}


# Events outside systems may subscribe to by webhook: every event with a rule, and these.
WEBHOOK_EVENT_TYPES: frozenset[str] = frozenset(
    {
        *RULES,
        "guild.content.question_asked.v1",
        "guild.content.answer_unaccepted.v1",
        "guild.community.community_created.v1",
        "guild.community.member_joined.v1",
        "guild.community.member_left.v1",
        "guild.community.role_revoked.v1",
        "guild.community.lifecycle_changed.v1",
        "guild.reputation.points_changed.v1",
    }
)

EventSink = Callable[[Envelope], Awaitable[None]]


def content_projections(feed: ContentFeed) -> dict[str, EventSink]:
    """Keep what is new in each community, the material of digests."""

    async def question_asked(envelope: Envelope) -> None:
        e = envelope.payload(content.QuestionAsked)
        await feed.record(
            ContentItem(
                id=f"question:{e.question_id}",
                community_id=e.community_id,
                kind="question",
                title=e.title,
                author_id=e.author_id,
                create_time=envelope.time,
            )
        )

    return {"guild.content.question_asked.v1": question_asked}


def membership_projections(memberships: Memberships) -> dict[str, EventSink]:
    """Keep the membership read model that decides who sees a community's broadcasts."""

    async def joined(envelope: Envelope) -> None:
        e = envelope.payload(community.MemberJoined)
        await memberships.joined(e.community_id, e.member_id, e.role or "member", envelope.time)

    async def left(envelope: Envelope) -> None:
        e = envelope.payload(community.MemberLeft)
        await memberships.left(e.community_id, e.member_id)

    async def granted(envelope: Envelope) -> None:
        e = envelope.payload(community.RoleGranted)
        await memberships.role_changed(e.community_id, e.member_id, e.role, envelope.time)

    async def revoked(envelope: Envelope) -> None:
        e = envelope.payload(community.RoleRevoked)
        await memberships.role_changed(e.community_id, e.member_id, e.current_role or "member", envelope.time)

    return {
        "guild.community.member_joined.v1": joined,
        "guild.community.member_left.v1": left,
        "guild.community.role_granted.v1": granted,
        "guild.community.role_revoked.v1": revoked,
    }


def source_service(event_type: str) -> str:
    """``guild.<svc>.<event>.v1`` -> ``<svc>``."""
    return event_type.split(".")[1]


class NotificationEvents:
    def __init__(
        self,
        notifier: Notifier,
        *,
        webhooks: EventSink | None = None,
        projections: dict[str, EventSink] | None = None,
        rules: dict[str, Rule] | None = None,
        webhook_types: frozenset[str] = WEBHOOK_EVENT_TYPES,
    ) -> None:
        self._notifier = notifier
        self._webhooks = webhooks
        self._projections = projections or {}
        self._rules = RULES if rules is None else rules
        self._webhook_types = webhook_types if webhooks is not None else frozenset()

    def _types(self) -> set[str]:
        return {*self._rules, *self._projections, *self._webhook_types}

    def sources(self) -> list[str]:
        """The producing services whose streams carry events this service handles."""
        return sorted({source_service(t) for t in self._types()})

    def handlers(self, source: str) -> dict[str, EventHandler]:
        return {t: self._handler(t) for t in sorted(self._types()) if source_service(t) == source}

    def _handler(self, event_type: str) -> EventHandler:
        rule = self._rules.get(event_type)
        project = self._projections.get(event_type)
        webhooks = self._webhooks if event_type in self._webhook_types else None

        async def handle(envelope: Envelope) -> None:
            if project is not None:
                await project(envelope)
            if rule is not None:
                for notification in rule(envelope):
                    await self._notifier.deliver(notification)
            if webhooks is not None:
                await webhooks(envelope)

        return handle
