"""Points from content events. Each (event, rule) counts once however often it is delivered."""

from __future__ import annotations

from guild.events.v1 import content_events_pb2 as events
from guild_common.events.consumer import EventHandler
from guild_common.events.envelope import Envelope
from guild_reputation.app.ports import Ledger, Total
from guild_reputation.domain.leaderboard import Leaderboards
from guild_reputation.domain.rules import LedgerEntry, PointsTable, Rule, earns_for_answer


def _region_programme(envelope: Envelope) -> tuple[str, str]:
    """Region and programme from the subject ``guild.<region>.<programme>.<svc>.<event>``."""
    parts = envelope.topic.split(".")
    return (parts[1], parts[2]) if len(parts) >= 5 else ("unknown", "unknown")


class ContentEventHandlers:
    def __init__(self, ledger: Ledger, boards: Leaderboards, points: PointsTable) -> None:
        self._ledger = ledger
        self._boards = boards
        self._points = points

    async def _award(
        self, envelope: Envelope, rule: Rule, community_id: str, member_id: str, amount: int, target_id: str
    ) -> None:
        entry = LedgerEntry.for_event(
            event_id=envelope.id,
            rule=rule,
            community_id=community_id,
            member_id=member_id,
            amount=amount,
            target_id=target_id,
            time=envelope.time,
        )
        region, programme = _region_programme(envelope)
        self._apply(await self._ledger.record(entry, region=region, programme=programme))

    def _apply(self, total: Total) -> None:
        self._boards.board(total.community_id).set(total.member_id, total.points)

    async def question_asked(self, envelope: Envelope) -> None:
        e = envelope.payload(events.QuestionAsked)
        await self._award(
            envelope,
            Rule.QUESTION_ASKED,
            e.community_id,
            e.author_id,
            self._points.question_asked,
            e.question_id,
        )

    async def answer_posted(self, envelope: Envelope) -> None:
        e = envelope.payload(events.AnswerPosted)
        if earns_for_answer(e.author_id, e.question_author_id):
            await self._award(
                envelope,
                Rule.ANSWER_POSTED,
                e.community_id,
                e.author_id,
                self._points.answer_posted,
                e.answer_id,
            )

    async def answer_accepted(self, envelope: Envelope) -> None:
        e = envelope.payload(events.AnswerAccepted)
        if earns_for_answer(e.answer_author_id, e.question_author_id):
            await self._award(
                envelope,
                Rule.ANSWER_ACCEPTED,
                e.community_id,
                e.answer_author_id,
                self._points.answer_accepted,
                e.answer_id,
            )

    async def answer_unaccepted(self, envelope: Envelope) -> None:
        """Take back what the acceptance earned, whatever the rules said at the time."""
        e = envelope.payload(events.AnswerUnaccepted)
        net = await self._ledger.net_for_target(
            e.community_id,
            e.answer_author_id,
            e.answer_id,
            [Rule.ANSWER_ACCEPTED, Rule.ANSWER_ACCEPTED_REVERSED],
        )
        if net > 0:
            await self._award(
                envelope, Rule.ANSWER_ACCEPTED_REVERSED, e.community_id, e.answer_author_id, -net, e.answer_id
            )

    def handlers(self) -> dict[str, EventHandler]:
        return {
            "guild.content.question_asked.v1": self.question_asked,
            "guild.content.answer_posted.v1": self.answer_posted,
            "guild.content.answer_accepted.v1": self.answer_accepted,
            "guild.content.answer_unaccepted.v1": self.answer_unaccepted,
        }


async def rebuild_boards(ledger: Ledger, boards: Leaderboards) -> int:
    """Load every stored total into the in-memory boards; returns how many."""
    count = 0
    async for total in ledger.totals():
        boards.board(total.community_id).set(total.member_id, total.points)
        count += 1
    return count
