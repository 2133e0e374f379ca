"""Notifications: who hears what about which event. Pure, no I/O.

About 420 lines: the notification types and, for each, the rule that makes one from an event; a type's
wording and its rule read together."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum


class NotificationType(StrEnum):
    NEW_ANSWER = "new_answer"
    ANSWER_ACCEPTED = "answer_accepted"
    ROLE_GRANTED = "role_granted"
    VOTE_MILESTONE = "vote_milestone"
    POST_REMOVED = "post_removed"
    BROADCAST = "broadcast"
    BADGE_EARNED = "badge_earned"
    CONTENT_FLAGGED = "content_flagged"
    JOIN_REQUESTED = "join_requested"
    NEW_COMMENT = "new_comment"
    MENTION = "mention"
    SURVEY_OPENED = "survey_opened"
    NEW_CONTENT = "new_content"
    POST_HIDDEN = "post_hidden"
    POST_RESTORED = "post_restored"
    NEW_QUESTION_IN_TAG = "new_question_in_tag"
    UNANSWERED_QUESTION = "unanswered_question"


@dataclass(frozen=True)
class TypeInfo:
    """What a notification type needs besides its rule: wording and default channels."""

    group_noun: str
    email_subject: str
    # Defaults that do not flood anyone: everything personal in the inbox; email only for the rare
    # events that matter to a person, never per answer or vote.
    default_in_app: bool = True
    default_email: bool = False


TYPES: dict[NotificationType, TypeInfo] = {
    NotificationType.NEW_ANSWER: TypeInfo("new answers", "New answer to your question"),
    NotificationType.ANSWER_ACCEPTED: TypeInfo(
        "accepted answers", "Your answer was accepted", default_email=True
    ),
    NotificationType.ROLE_GRANTED: TypeInfo(
        "role changes", "You have a new role in Guild", default_email=True
    ),
    NotificationType.VOTE_MILESTONE: TypeInfo("score milestones", "Your post reached a milestone"),
    NotificationType.POST_REMOVED: TypeInfo("removals", "A moderator removed your post", default_email=True),
    NotificationType.BROADCAST: TypeInfo("notices", "News from your community"),
    NotificationType.BADGE_EARNED: TypeInfo("badges", "You earned a badge"),
    NotificationType.CONTENT_FLAGGED: TypeInfo("flags", "A post in your community was flagged"),
    NotificationType.JOIN_REQUESTED: TypeInfo(
        "join requests", "Someone asks to join your community", default_email=True
    ),
    NotificationType.NEW_COMMENT: TypeInfo("new comments", "New comment on your post"),
    NotificationType.MENTION: TypeInfo("mentions", "You were mentioned"),
    NotificationType.SURVEY_OPENED: TypeInfo("surveys", "A survey is open in your community"),
    # New content reaches email through the digest; a member with digests off may ask for it one by one.
    NotificationType.NEW_CONTENT: TypeInfo("new items", "New in your community"),
    NotificationType.POST_HIDDEN: TypeInfo("hidden posts", "Your post was hidden", default_email=True),
    NotificationType.POST_RESTORED: TypeInfo("restored posts", "Your post was restored"),
    NotificationType.NEW_QUESTION_IN_TAG: TypeInfo("new questions", "A new question in a tag you follow"),
    NotificationType.UNANSWERED_QUESTION: TypeInfo(
        "unanswered questions", "A question in your community waits for an answer"
    ),
}


@dataclass(frozen=True)
class Notification:
    """One in-app notification, one per (event, recipient, type): ``<event id>:<recipient>:<type>``.

    ``sequence`` is its position in the recipient's stream, assigned when it is stored (0 before).
    """

    id: str
    recipient_id: str
    type: NotificationType
    community_id: str
    subject_id: str
    actor_id: str
    text: str
    create_time: datetime
    read: bool = False
    subject_title: str = ""
    sequence: int = 0

    @property
    def group_key(self) -> str:
        """Notifications of one recipient, type and subject are shown together."""
        return group_key(self.recipient_id, self.type, self.subject_id)

    def with_sequence(self, sequence: int) -> Notification:
        return replace(self, sequence=sequence)

    @classmethod
    def for_event(
        cls,
        *,
        event_id: str,
        recipient_id: str,
        type: NotificationType,
        community_id: str,
        subject_id: str,
        actor_id: str,
        text: str,
        time: datetime,
        subject_title: str = "",
    ) -> Notification:
        return cls(
            id=f"{event_id}:{recipient_id}:{type.value}",
            recipient_id=recipient_id,
            type=type,
            community_id=community_id,
            subject_id=subject_id,
            actor_id=actor_id,
            text=text,
            create_time=time,
            subject_title=subject_title,
        )


def group_key(recipient_id: str, type: NotificationType, subject_id: str) -> str:
    return f"{recipient_id}:{type.value}:{subject_id}"


@dataclass(frozen=True)
class NotificationGroup:
    """Summary of the notifications sharing a group key."""

    key: str
    recipient_id: str
    type: NotificationType
    community_id: str
    subject_id: str
    subject_title: str
    unread_count: int
    total_count: int
    latest_actor_id: str
    latest_text: str
    update_time: datetime

    @property
    def summary(self) -> str:
        return group_summary(
            self.type, self.unread_count or self.total_count, self.subject_title, self.latest_text
        )


def group_summary(type: NotificationType, count: int, title: str, latest_text: str) -> str:
    """``3 new answers on “title”``; a group of one reads as its notification."""
    if count <= 1:
        return latest_text
    about = f" on \u201c{title}\u201d" if title else ""
    return f"{count} {TYPES[type].group_noun}{about}"


def new_answer(
    *,
    event_id: str,
    question_id: str,
    question_title: str,
    question_author: str,
    answer_author: str,
    community_id: str,
    time: datetime,
) -> Notification | None:
    """The asker hears of a new answer, unless they answered themselves."""
    if question_author == answer_author or not question_author:
        return None
    return Notification.for_event(
        event_id=event_id,
        recipient_id=question_author,
        type=NotificationType.NEW_ANSWER,
        community_id=community_id,
        subject_id=question_id,
        actor_id=answer_author,
        text=f"{answer_author} answered your question \u201c{question_title}\u201d",
        time=time,
        subject_title=question_title,
    )


def answer_accepted(
    *,
    event_id: str,
    question_id: str,
    question_title: str,
    answer_author: str,
    accepted_by: str,
    community_id: str,
    time: datetime,
) -> Notification | None:
    """The answerer hears that their answer was accepted, unless they accepted it themselves."""
    if answer_author == accepted_by or not answer_author:
        return None
    return Notification.for_event(
        event_id=event_id,
        recipient_id=answer_author,
        type=NotificationType.ANSWER_ACCEPTED,
        community_id=community_id,
        subject_id=question_id,
        actor_id=accepted_by,
        text=f"Your answer to \u201c{question_title}\u201d was accepted",
        time=time,
        subject_title=question_title,
    )


# Roles worth telling someone about; becoming a plain member is not news.
NOTABLE_ROLES = ("champion", "curator", "moderator", "owner")


def role_granted(
    *,
    event_id: str,
    community_id: str,
    member_id: str,
    role: str,
    granted_by: str,
    time: datetime,
) -> Notification | None:
    """A member hears that they were made champion, curator, moderator or owner."""
    if role not in NOTABLE_ROLES or not member_id:
        return None
    article = "an" if role[0] in "aeiou" else "a"
    return Notification.for_event(
        event_id=event_id,
        recipient_id=member_id,
        type=NotificationType.ROLE_GRANTED,
        community_id=community_id,
        subject_id=community_id,
        actor_id=granted_by,
        text=f"You were made {article} {role} of the community",
        time=time,
    )


SCORE_MILESTONES = (10, 25, 50, 100, 250, 500, 1000)


def vote_milestone(
    *,
    event_id: str,
    target_kind: str,
    target_id: str,
    community_id: str,
    author_id: str,
    voter_id: str,
    previous_score: int,
    score: int,
    time: datetime,
) -> Notification | None:
    """The author hears when a vote lifts their post's score to a milestone, once per post and milestone.

    The notification is keyed by the milestone rather than the vote, so a score that dips and recovers
    does not announce the same milestone twice.
    """
    del event_id
    if not author_id or score <= previous_score:
        return None
    reached = [m for m in SCORE_MILESTONES if previous_score < m <= score]
    if not reached:
        return None
    kind = target_kind or "post"
    return Notification.for_event(
        event_id=f"{target_id}#score{reached[-1]}",
        recipient_id=author_id,
        type=NotificationType.VOTE_MILESTONE,
        community_id=community_id,
        subject_id=target_id,
        actor_id=voter_id,
        text=f"Your {kind} reached a score of {reached[-1]}",
        time=time,
    )


def post_removed(
    *,
    event_id: str,
    post_id: str,
    kind: str,
    community_id: str,
    author_id: str,
    removed_by: str,
    reason: str,
    by_moderator: bool,
    time: datetime,
) -> Notification | None:
    """An author hears that a moderator removed their post, with the reason given."""
    if not by_moderator or not author_id or author_id == removed_by:
        return None
    because = f": {reason}" if reason else ""
    return Notification.for_event(
        event_id=event_id,
        recipient_id=author_id,
        type=NotificationType.POST_REMOVED,
        community_id=community_id,
        subject_id=post_id,
        actor_id=removed_by,
        text=f"A moderator removed your {kind or 'post'}{because}",
        time=time,
    )


def badge_earned(
    *,
    event_id: str,
    award_id: str,
    community_id: str,
    member_id: str,
    title: str,
    citation: str,
    granted_by: str,
    time: datetime,
) -> Notification | None:
    """A member hears of a badge they earned, with its citation."""
    if not member_id:
        return None
    because = f": {citation}" if citation else ""
    return Notification.for_event(
        event_id=event_id,
        recipient_id=member_id,
        type=NotificationType.BADGE_EARNED,
        community_id=community_id,
        subject_id=award_id,
        actor_id=granted_by,
        text=f"You earned the badge \u201c{title}\u201d{because}",
        time=time,
        subject_title=title,
    )


def new_comment(
    *,
    event_id: str,
    post_id: str,
    post_kind: str,
    community_id: str,
    post_author: str,
    comment_author: str,
    time: datetime,
) -> Notification | None:
    """A post's author hears of a comment on it, unless they wrote it."""
    if not post_author or post_author == comment_author:
        return None
    return Notification.for_event(
        event_id=event_id,
        recipient_id=post_author,
        type=NotificationType.NEW_COMMENT,
        community_id=community_id,
        subject_id=post_id,
        actor_id=comment_author,
        text=f"{comment_author} commented on your {post_kind or 'post'}",
        time=time,
    )


def mention(
    *,
    event_id: str,
    mentioned_id: str,
    post_id: str,
    kind: str,
    community_id: str,
    author_id: str,
    time: datetime,
) -> Notification | None:
    """A member hears that someone else mentioned them."""
    if not mentioned_id or mentioned_id == author_id:
        return None
    return Notification.for_event(
        event_id=event_id,
        recipient_id=mentioned_id,
        type=NotificationType.MENTION,
        community_id=community_id,
        subject_id=post_id,
        actor_id=author_id,
        text=f"{author_id} mentioned you in a {kind or 'post'}",
        time=time,
    )


def moderation_outcome(
    *,
    event_id: str,
    type: NotificationType,
    post_id: str,
    kind: str,
    community_id: str,
    author_id: str,
    moderator_id: str,
    reason: str,
    time: datetime,
) -> Notification | None:
    """An author hears that their post was hidden or restored (not when they did it themselves)."""
    if not author_id or author_id == moderator_id:
        return None
    verb = {NotificationType.POST_HIDDEN: "hidden", NotificationType.POST_RESTORED: "restored"}[type]
    because = f": {reason}" if reason else ""
    return Notification.for_event(
        event_id=event_id,
        recipient_id=author_id,
        type=type,
        community_id=community_id,
        subject_id=post_id,
        actor_id=moderator_id,
        text=f"Your {kind or 'post'} was {verb}{because}",
        time=time,
    )


# Who hears about flagged content and join requests in a community.
MODERATOR_ROLES = ("moderator", "owner")
OWNER_ROLES = ("owner",)
