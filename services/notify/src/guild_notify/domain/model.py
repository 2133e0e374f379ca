"""Notifications: who hears what about which event. Pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class NotificationType(StrEnum):
    NEW_ANSWER = "new_answer"
    ANSWER_ACCEPTED = "answer_accepted"


@dataclass(frozen=True)
class Notification:
    """One in-app notification, one per (event, recipient, type): ``<event id>:<recipient>:<type>``."""

    id: str
    recipient_id: str
    type: NotificationType
    community_id: str
    subject_id: str
    actor_id: str
    text: str
    create_time: datetime
    read: bool = False

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
        )


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
    )
