"""Which events notify whom: one entry per event type in :data:`RULES`.

A rule turns an event into the notifications it causes (pure, no I/O); :class:`NotificationEvents`
delivers them through the :class:`Notifier`, idempotent by (event, recipient, type), and hands every
event of :data:`WEBHOOK_EVENT_TYPES` to the webhook fan-out. A new event type is one entry in either.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from guild.events.v1 import community_events_pb2 as community
from guild.events.v1 import content_events_pb2 as content
from guild.events.v1 import reputation_events_pb2 as reputation
from guild_common.events.consumer import EventHandler
from guild_common.events.envelope import Envelope
from guild_notify.app.digests import ContentFeed
from guild_notify.app.notifier import Notifier
from guild_notify.app.ports import BroadcastStore, Memberships, PreferencesStore
from guild_notify.domain import model
from guild_notify.domain.broadcasts import Broadcast
from guild_notify.domain.digests import ContentItem
from guild_notify.domain.model import MODERATOR_ROLES, OWNER_ROLES, Notification, NotificationType
from guild_notify.domain.preferences import Channel, DigestFrequency

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


def _badge_awarded(envelope: Envelope) -> list[Notification]:
    e = envelope.payload(reputation.BadgeAwarded)
    return _some(
        model.badge_earned(
            event_id=envelope.id,
            award_id=e.award_id,
            community_id=e.community_id,
            member_id=e.member_id,
            title=e.title or e.badge,
            citation=e.citation,
            granted_by=e.granted_by,
            time=envelope.time,
        )
    )


def _comment_posted(envelope: Envelope) -> list[Notification]:
    e = envelope.payload(content.CommentPosted)
    return _some(
        model.new_comment(
            event_id=envelope.id,
            post_id=e.post_id,
            post_kind=e.post_kind,
            community_id=e.community_id,
            post_author=e.post_author_id,
            comment_author=e.author_id,
            time=envelope.time,
        )
    )


def _mention_made(envelope: Envelope) -> list[Notification]:
    e = envelope.payload(content.MentionMade)
    return _some(
        model.mention(
            event_id=envelope.id,
            mentioned_id=e.mentioned_id,
            post_id=e.post_id,
            kind=e.kind,
            community_id=e.community_id,
            author_id=e.author_id,
            time=envelope.time,
        )
    )


def _post_hidden(envelope: Envelope) -> list[Notification]:
    e = envelope.payload(content.PostHidden)
    return _some(
        model.moderation_outcome(
            event_id=envelope.id,
            type=model.NotificationType.POST_HIDDEN,
            post_id=e.post_id,
            kind=e.kind,
            community_id=e.community_id,
            author_id=e.author_id,
            moderator_id=e.hidden_by,
            reason=e.reason,
            time=envelope.time,
        )
    )


def _post_restored(envelope: Envelope) -> list[Notification]:
    e = envelope.payload(content.PostRestored)
    return _some(
        model.moderation_outcome(
            event_id=envelope.id,
            type=model.NotificationType.POST_RESTORED,
            post_id=e.post_id,
            kind=e.kind,
            community_id=e.community_id,
            author_id=e.author_id,
            moderator_id=e.restored_by,
            reason=e.reason,
            time=envelope.time,
        )
    )


RULES: dict[str, Rule] = {
    "guild.content.answer_posted.v1": _answer_posted,
    "guild.content.answer_accepted.v1": _answer_accepted,
    "guild.content.vote_changed.v1": _vote_changed,
    "guild.content.post_removed.v1": _post_removed,
    "guild.content.post_hidden.v1": _post_hidden,
    "guild.content.post_restored.v1": _post_restored,
    "guild.content.comment_posted.v1": _comment_posted,
    "guild.content.mention_made.v1": _mention_made,
    "guild.community.role_granted.v1": _role_granted,
    "guild.reputation.badge_awarded.v1": _badge_awarded,
}


# Events outside systems may subscribe to by webhook: every event with a rule, and these.
WEBHOOK_EVENT_TYPES: frozenset[str] = frozenset(
    {
        *RULES,
        "guild.content.question_asked.v1",
        "guild.content.answer_unaccepted.v1",
        "guild.content.post_flagged.v1",
        "guild.content.resource_shared.v1",
        "guild.content.post_created.v1",
        "guild.community.join_requested.v1",
        "guild.community.survey_opened.v1",
        "guild.community.community_created.v1",
        "guild.community.member_joined.v1",
        "guild.community.member_left.v1",
        "guild.community.role_revoked.v1",
        "guild.community.lifecycle_changed.v1",
        "guild.reputation.points_changed.v1",
    }
)

EventSink = Callable[[Envelope], Awaitable[None]]


def merge_sinks(*tables: dict[str, EventSink]) -> dict[str, EventSink]:
    """One table of the given ones: sinks for the same event type run in the order of ``tables``."""
    merged: dict[str, list[EventSink]] = {}
    for table in tables:
        for event_type, sink in table.items():
            merged.setdefault(event_type, []).append(sink)

    def chain(sinks: list[EventSink]) -> EventSink:
        if len(sinks) == 1:
            return sinks[0]

        async def run(envelope: Envelope) -> None:
            for sink in sinks:
                await sink(envelope)

        return run

    return {event_type: chain(sinks) for event_type, sinks in merged.items()}


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


# Notices to a community's leaders read the membership model; more than this many is a misconfiguration.
MAX_LEADERS = 200
# Posts that are new material for a community's members.
NEW_CONTENT_POST_KINDS = frozenset({"article", "announcement"})


class Subscribers(Protocol):
    async def digest_subscribers(self, frequency: DigestFrequency) -> list[str]: ...


def audience_handlers(
    notifier: Notifier,
    memberships: Memberships,
    broadcasts: BroadcastStore,
    feed: ContentFeed,
    subscribers: Subscribers,
    preferences: PreferencesStore,
) -> dict[str, EventSink]:
    """Notifications whose recipients come from the read models: a community's moderators and owners
    (one notification each), and its whole membership (one stored copy merged into every inbox on read,
    O(1) writes whatever the community's size, as broadcasts are)."""

    async def to_leaders(
        envelope: Envelope,
        *,
        roles: tuple[str, ...],
        type: NotificationType,
        community_id: str,
        subject_id: str,
        actor_id: str,
        text: str,
        skip: str,
    ) -> None:
        """One notification to each member holding one of ``roles`` in the community, except ``skip``."""
        recipients = await memberships.with_roles(community_id, roles, MAX_LEADERS)
        for recipient in dict.fromkeys(recipients):
            if recipient and recipient != skip:
                await notifier.deliver(
                    Notification.for_event(
                        event_id=envelope.id,
                        recipient_id=recipient,
                        type=type,
                        community_id=community_id,
                        subject_id=subject_id,
                        actor_id=actor_id,
                        text=text,
                        time=envelope.time,
                    )
                )

    async def flagged(envelope: Envelope) -> None:
        e = envelope.payload(content.PostFlagged)
        because = f": {e.reason}" if e.reason else ""
        flags = f"{e.flag_count} flag{'s' if e.flag_count != 1 else ''}"
        await to_leaders(
            envelope,
            roles=MODERATOR_ROLES,
            type=NotificationType.CONTENT_FLAGGED,
            community_id=e.community_id,
            subject_id=e.post_id,
            actor_id="",  # flaggers stay anonymous
            text=f"A {e.kind or 'post'} was flagged ({flags}){because}",
            skip=e.author_id,
        )

    async def hidden(envelope: Envelope) -> None:
        e = envelope.payload(content.PostHidden)
        if not e.by_flags:  # a moderator hid it: the other moderators need not act
            return
        await to_leaders(
            envelope,
            roles=MODERATOR_ROLES,
            type=NotificationType.CONTENT_FLAGGED,
            community_id=e.community_id,
            subject_id=e.post_id,
            actor_id="",
            text=f"A {e.kind or 'post'} was hidden after {e.flag_count} flags: please review it",
            skip=e.author_id,
        )

    async def join_requested(envelope: Envelope) -> None:
        e = envelope.payload(community.JoinRequested)
        await to_leaders(
            envelope,
            roles=OWNER_ROLES,
            type=NotificationType.JOIN_REQUESTED,
            community_id=e.community_id,
            subject_id=e.community_id,
            actor_id=e.member_id,
            text=f"{e.member_id} asks to join your community",
            skip=e.member_id,
        )

    async def survey_opened(envelope: Envelope) -> None:
        e = envelope.payload(community.SurveyOpened)
        await broadcasts.create(
            Broadcast(
                id=f"survey-{e.survey_id}",
                community_id=e.community_id,
                author_id=e.opened_by,
                text=f"A survey is open: \u201c{e.title}\u201d",
                subject_id=e.survey_id,
                create_time=envelope.time,
                type=NotificationType.SURVEY_OPENED,
            )
        )

    async def new_content(
        envelope: Envelope, kind: str, item_id: str, community_id: str, author_id: str, title: str
    ) -> None:
        """Into the digests' feed, into every member's inbox (one stored copy), and by email at once to
        members who turned digests off and asked for new content by email."""
        await feed.record(
            ContentItem(
                id=f"{kind}:{item_id}",
                community_id=community_id,
                kind=kind,
                title=title,
                author_id=author_id,
                create_time=envelope.time,
            )
        )
        notice = await broadcasts.create(
            Broadcast(
                id=f"{kind}-{item_id}",
                community_id=community_id,
                author_id=author_id,
                text=f"New {kind}: \u201c{title}\u201d",
                subject_id=item_id,
                create_time=envelope.time,
                type=NotificationType.NEW_CONTENT,
            )
        )
        for member_id in await subscribers.digest_subscribers(DigestFrequency.OFF):
            if member_id == author_id or await memberships.get(community_id, member_id) is None:
                continue
            prefs = await preferences.get(member_id)
            if prefs.wants(NotificationType.NEW_CONTENT, community_id, Channel.EMAIL):
                await notifier.deliver(notice.for_member(member_id, read=False), in_app_allowed=False)

    async def resource_shared(envelope: Envelope) -> None:
        e = envelope.payload(content.ResourceShared)
        await new_content(envelope, "resource", e.resource_id, e.community_id, e.author_id, e.title)

    async def post_created(envelope: Envelope) -> None:
        e = envelope.payload(content.PostCreated)
        if e.kind in NEW_CONTENT_POST_KINDS:  # discussions are conversation, not material
            await new_content(envelope, e.kind, e.post_id, e.community_id, e.author_id, e.title)

    return {
        "guild.content.post_flagged.v1": flagged,
        "guild.content.post_hidden.v1": hidden,
        "guild.community.join_requested.v1": join_requested,
        "guild.community.survey_opened.v1": survey_opened,
        "guild.content.resource_shared.v1": resource_shared,
        "guild.content.post_created.v1": post_created,
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
        audiences: dict[str, EventSink] | None = None,
        rules: dict[str, Rule] | None = None,
        webhook_types: frozenset[str] = WEBHOOK_EVENT_TYPES,
    ) -> None:
        self._notifier = notifier
        self._webhooks = webhooks
        self._projections = projections or {}
        self._audiences = audiences or {}
        self._rules = RULES if rules is None else rules
        self._webhook_types = webhook_types if webhooks is not None else frozenset()

    def _types(self) -> set[str]:
        return {*self._rules, *self._projections, *self._audiences, *self._webhook_types}

    def sources(self) -> list[str]:
        """The producing services whose streams carry events this service handles."""
        return sorted({source_service(t) for t in self._types()})

    def handlers(self, source: str) -> dict[str, EventHandler]:
        return {t: self._handler(t) for t in sorted(self._types()) if source_service(t) == source}

    def _handler(self, event_type: str) -> EventHandler:
        rule = self._rules.get(event_type)
        project = self._projections.get(event_type)
        audience = self._audiences.get(event_type)
        webhooks = self._webhooks if event_type in self._webhook_types else None

        async def handle(envelope: Envelope) -> None:
            if project is not None:
                await project(envelope)
            if rule is not None:
                for notification in rule(envelope):
                    await self._notifier.deliver(notification)
            if audience is not None:
                await audience(envelope)
            if webhooks is not None:
                await webhooks(envelope)

        return handle
