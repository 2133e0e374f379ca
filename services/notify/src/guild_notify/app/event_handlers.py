"""Notifications from content events; idempotent by (event, recipient, type)."""

from __future__ import annotations

from guild.events.v1 import content_events_pb2 as events
from guild_common.events.consumer import EventHandler
from guild_common.events.envelope import Envelope
from guild_notify.app.ports import Inbox
from guild_notify.domain.model import answer_accepted, new_answer


class ContentEventHandlers:
    def __init__(self, inbox: Inbox) -> None:
        self._inbox = inbox

    async def answer_posted(self, envelope: Envelope) -> None:
        e = envelope.payload(events.AnswerPosted)
        notification = new_answer(
            event_id=envelope.id,
            question_id=e.question_id,
            question_title=e.question_title,
            question_author=e.question_author_id,
            answer_author=e.author_id,
            community_id=e.community_id,
            time=envelope.time,
        )
        if notification is not None:
            await self._inbox.add(notification)

    async def answer_accepted(self, envelope: Envelope) -> None:
        e = envelope.payload(events.AnswerAccepted)
        notification = answer_accepted(
            event_id=envelope.id,
            question_id=e.question_id,
            question_title=e.question_title,
            answer_author=e.answer_author_id,
            accepted_by=e.accepted_by,
            community_id=e.community_id,
            time=envelope.time,
        )
        if notification is not None:
            await self._inbox.add(notification)

    def handlers(self) -> dict[str, EventHandler]:
        return {
            "guild.content.answer_posted.v1": self.answer_posted,
            "guild.content.answer_accepted.v1": self.answer_accepted,
        }
