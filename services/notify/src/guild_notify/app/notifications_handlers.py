"""Notifications caused by one event: :data:`RULES` says who hears of what (one entry per event class,
pure, no I/O); :class:`NotificationHandlers` delivers them through the :class:`Notifier`, idempotent by
(event, recipient, type), and tells a community's leaders of what needs them (flags, join requests)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from guild_common.events.inbound import Handler
from guild_common.events.meta import EventMeta
from guild_notify.app.notifier import Notifier
from guild_notify.app.ports import Memberships
from guild_notify.domain import notifications
from guild_notify.domain.integration_events import (
    AnswerAccepted,
    AnswerPosted,
    BadgeAwarded,
    CommentPosted,
    JoinRequested,
    MentionMade,
    PostFlagged,
    PostHidden,
    PostRemoved,
    PostRestored,
    RoleGranted,
    VoteChanged,
)
from guild_notify.domain.notifications import MODERATOR_ROLES, OWNER_ROLES, Notification, NotificationType

Rule = Callable[[Any], list[Notification]]


def _some(n: Notification | None) -> list[Notification]:
    return [n] if n is not None else []


def _answer_posted(e: AnswerPosted) -> list[Notification]:
    return _some(
        notifications.new_answer(
            event_id=e.meta.id,
            question_id=e.question_id,
            question_title=e.question_title,
            question_author=e.question_author_id,
            answer_author=e.author_id,
            community_id=e.community_id,
            time=e.meta.time,
        )
    )


def _answer_accepted(e: AnswerAccepted) -> list[Notification]:
    return _some(
        notifications.answer_accepted(
            event_id=e.meta.id,
            question_id=e.question_id,
            question_title=e.question_title,
            answer_author=e.answer_author_id,
            accepted_by=e.accepted_by,
            community_id=e.community_id,
            time=e.meta.time,
        )
    )


def _vote_changed(e: VoteChanged) -> list[Notification]:
    return _some(
        notifications.vote_milestone(
            event_id=e.meta.id,
            target_kind=e.target_kind,
            target_id=e.target_id,
            community_id=e.community_id,
            author_id=e.target_author_id,
            voter_id=e.voter_id,
            previous_score=int(e.score) - (e.value - e.previous_value),
            score=int(e.score),
            time=e.meta.time,
        )
    )


def _post_removed(e: PostRemoved) -> list[Notification]:
    return _some(
        notifications.post_removed(
            event_id=e.meta.id,
            post_id=e.post_id,
            kind=e.kind,
            community_id=e.community_id,
            author_id=e.author_id,
            removed_by=e.removed_by,
            reason=e.reason,
            by_moderator=e.by_moderator,
            time=e.meta.time,
        )
    )


def _role_granted(e: RoleGranted) -> list[Notification]:
    return _some(
        notifications.role_granted(
            event_id=e.meta.id,
            community_id=e.community_id,
            member_id=e.member_id,
            role=e.role,
            granted_by=e.granted_by,
            time=e.meta.time,
        )
    )


def _badge_awarded(e: BadgeAwarded) -> list[Notification]:
    return _some(
        notifications.badge_earned(
            event_id=e.meta.id,
            award_id=e.award_id,
            community_id=e.community_id,
            member_id=e.member_id,
            title=e.title or e.badge,
            citation=e.citation,
            granted_by=e.granted_by,
            time=e.meta.time,
        )
    )


def _comment_posted(e: CommentPosted) -> list[Notification]:
    return _some(
        notifications.new_comment(
            event_id=e.meta.id,
            post_id=e.post_id,
            post_kind=e.post_kind,
            community_id=e.community_id,
            post_author=e.post_author_id,
            comment_author=e.author_id,
            time=e.meta.time,
        )
    )


def _mention_made(e: MentionMade) -> list[Notification]:
    return _some(
        notifications.mention(
            event_id=e.meta.id,
            mentioned_id=e.mentioned_id,
            post_id=e.post_id,
            kind=e.kind,
            community_id=e.community_id,
            author_id=e.author_id,
            time=e.meta.time,
        )
    )


def _post_hidden(e: PostHidden) -> list[Notification]:
    return _some(
        notifications.moderation_outcome(
            event_id=e.meta.id,
            type=notifications.NotificationType.POST_HIDDEN,
            post_id=e.post_id,
            kind=e.kind,
            community_id=e.community_id,
            author_id=e.author_id,
            moderator_id=e.hidden_by,
            reason=e.reason,
            time=e.meta.time,
        )
    )


def _post_restored(e: PostRestored) -> list[Notification]:
    return _some(
        notifications.moderation_outcome(
            event_id=e.meta.id,
            type=notifications.NotificationType.POST_RESTORED,
            post_id=e.post_id,
            kind=e.kind,
            community_id=e.community_id,
            author_id=e.author_id,
            moderator_id=e.restored_by,
            reason=e.reason,
            time=e.meta.time,
        )
    )


RULES: dict[type, Rule] = {
    AnswerPosted: _answer_posted,
    AnswerAccepted: _answer_accepted,
    VoteChanged: _vote_changed,
    PostRemoved: _post_removed,
    PostHidden: _post_hidden,
    PostRestored: _post_restored,
    CommentPosted: _comment_posted,
    MentionMade: _mention_made,
    RoleGranted: _role_granted,
    BadgeAwarded: _badge_awarded,
}


# Notices to a community's leaders read the membership model; more than this many is a misconfiguration.
MAX_LEADERS = 200


class NotificationHandlers:
    def __init__(self, notifier: Notifier, memberships: Memberships) -> None:
        self._notifier = notifier
        self._memberships = memberships

    def handlers(self) -> dict[type, Handler]:
        """Each rule's notifications, delivered."""

        def deliver(rule: Rule) -> Handler:
            async def handle(event: Any) -> None:
                for notification in rule(event):
                    await self._notifier.deliver(notification)

            return handle

        return {kind: deliver(rule) for kind, rule in RULES.items()}

    def leader_handlers(self) -> dict[type, Handler]:
        """One notification to each of a community's moderators or owners (from the membership model)."""
        notifier, memberships = self._notifier, self._memberships

        async def to_leaders(
            meta: EventMeta,
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
                            event_id=meta.id,
                            recipient_id=recipient,
                            type=type,
                            community_id=community_id,
                            subject_id=subject_id,
                            actor_id=actor_id,
                            text=text,
                            time=meta.time,
                        )
                    )

        async def flagged(e: PostFlagged) -> None:
            because = f": {e.reason}" if e.reason else ""
            flags = f"{e.flag_count} flag{'s' if e.flag_count != 1 else ''}"
            await to_leaders(
                e.meta,
                roles=MODERATOR_ROLES,
                type=NotificationType.CONTENT_FLAGGED,
                community_id=e.community_id,
                subject_id=e.post_id,
                actor_id="",  # flaggers stay anonymous
                text=f"A {e.kind or 'post'} was flagged ({flags}){because}",
                skip=e.author_id,
            )

        async def hidden(e: PostHidden) -> None:
            if not e.by_flags:  # a moderator hid it: the other moderators need not act
                return
            await to_leaders(
                e.meta,
                roles=MODERATOR_ROLES,
                type=NotificationType.CONTENT_FLAGGED,
                community_id=e.community_id,
                subject_id=e.post_id,
                actor_id="",
                text=f"A {e.kind or 'post'} was hidden after {e.flag_count} flags: please review it",
                skip=e.author_id,
            )

        async def join_requested(e: JoinRequested) -> None:
            await to_leaders(
                e.meta,
                roles=OWNER_ROLES,
                type=NotificationType.JOIN_REQUESTED,
                community_id=e.community_id,
                subject_id=e.community_id,
                actor_id=e.member_id,
                text=f"{e.member_id} asks to join your community",
                skip=e.member_id,
            )

        return {
            PostFlagged: flagged,
            PostHidden: hidden,
            JoinRequested: join_requested,
        }
