"""Questions that reach people besides the asker: followers and experts of their tags, and champions
when nobody has answered in time. Pure, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from guild_notify.domain.notifications import Notification, NotificationType

# Who is nudged about a community's unanswered questions.
CHAMPION_ROLES = ("champion",)


def first_match(question_tags: list[str], member_tags: Iterable[str]) -> str:
    """The question's first tag among ``member_tags`` ("" if none)."""
    theirs = set(member_tags)
    return next((t for t in question_tags if t in theirs), "")


def new_question_in_tag(
    *,
    event_id: str,
    question_id: str,
    title: str,
    community_id: str,
    asker_id: str,
    interested: Mapping[str, str],
    time: datetime,
) -> list[Notification]:
    """One notification to each member interested in one of the question's tags (member -> the tag),
    never to the asker."""
    return [
        Notification.for_event(
            event_id=event_id,
            recipient_id=member,
            type=NotificationType.NEW_QUESTION_IN_TAG,
            community_id=community_id,
            subject_id=question_id,
            actor_id=asker_id,
            text=f"New question tagged {tag}: \u201c{title}\u201d",
            time=time,
            subject_title=title,
        )
        for member, tag in sorted(interested.items())
        if member and member != asker_id
    ]


@dataclass(frozen=True)
class QuestionNudge:
    """A question that champions hear about at ``due_time`` unless it is answered first."""

    question_id: str
    community_id: str
    title: str
    author_id: str
    ask_time: datetime
    due_time: datetime

    @property
    def event_id(self) -> str:
        """The natural key of the nudge: one per question and champion however often it is swept."""
        return f"unanswered-{self.question_id}"


def unanswered_nudges(nudge: QuestionNudge, champions: Iterable[str], now: datetime) -> list[Notification]:
    """One notification to each champion of the question's community, except the asker."""
    return [
        Notification.for_event(
            event_id=nudge.event_id,
            recipient_id=champion,
            type=NotificationType.UNANSWERED_QUESTION,
            community_id=nudge.community_id,
            subject_id=nudge.question_id,
            actor_id=nudge.author_id,
            text=f"\u201c{nudge.title}\u201d has no answer yet: can you help?",
            time=now,
            subject_title=nudge.title,
        )
        for champion in dict.fromkeys(champions)
        if champion and champion != nudge.author_id
    ]
