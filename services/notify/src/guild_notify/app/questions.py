"""Questions beyond the asker: followers and experts of their tags hear of them at once, and a
community's champions are nudged about those still unanswered after a configured time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import structlog
from google.protobuf.message import Message

from guild.events.v1 import community_events_pb2 as community
from guild.events.v1 import content_events_pb2 as content
from guild_common.clock import utc_now
from guild_common.events.envelope import Envelope
from guild_common.sweeper import SweepingWorker
from guild_common.tags import normalise_tag, normalise_tags
from guild_notify.app.notifier import Notifier
from guild_notify.app.ports import Memberships, NudgeStore, TagInterests
from guild_notify.domain.questions import (
    CHAMPION_ROLES,
    QuestionNudge,
    first_match,
    new_question_in_tag,
    unanswered_nudges,
)

log = structlog.get_logger("guild.notify.questions")

EventSink = Callable[[Envelope], Awaitable[None]]
# Champions nudged per question; more than this many in one community is a misconfiguration.
MAX_CHAMPIONS = 200
# The least time between scheduling a nudge and sending it.
NUDGE_SETTLE = timedelta(seconds=60)


def event_time(payload: Message, field: str, envelope: Envelope) -> datetime:
    """The payload's own time when it carries one, else the envelope's."""
    if payload.HasField(field):
        stamp = getattr(payload, field)
        return datetime.fromtimestamp(stamp.seconds + stamp.nanos / 1e9, tz=UTC)
    return envelope.time


def interest_projections(interests: TagInterests) -> dict[str, EventSink]:
    """Keep who follows which tags (content events) and who declared expertise in them (profiles)."""

    async def followed(envelope: Envelope) -> None:
        e = envelope.payload(content.TagFollowed)
        if e.member_id and normalise_tag(e.tag):
            await interests.followed(
                e.member_id, normalise_tag(e.tag), event_time(e, "follow_time", envelope)
            )

    async def unfollowed(envelope: Envelope) -> None:
        e = envelope.payload(content.TagUnfollowed)
        if e.member_id and normalise_tag(e.tag):
            at = event_time(e, "unfollow_time", envelope)
            await interests.unfollowed(e.member_id, normalise_tag(e.tag), at)

    async def profile_updated(envelope: Envelope) -> None:
        e = envelope.payload(community.ProfileUpdated)
        if e.member_id:
            at = event_time(e, "update_time", envelope)
            await interests.expertise(e.member_id, normalise_tags(e.expertise), at)

    return {
        "guild.content.tag_followed.v1": followed,
        "guild.content.tag_unfollowed.v1": unfollowed,
        "guild.community.profile_updated.v1": profile_updated,
    }


def question_audiences(
    notifier: Notifier,
    memberships: Memberships,
    interests: TagInterests,
    nudges: NudgeStore,
    *,
    unanswered_after: timedelta,
    settle: timedelta = NUDGE_SETTLE,
    on_scheduled: Callable[[], None] = lambda: None,
) -> dict[str, EventSink]:
    """On a new question: schedule its unanswered nudge, then tell the members of its community who
    follow or are expert in one of its tags. On an answer, or the question's removal: cancel the nudge.

    A nudge falls due ``unanswered_after`` the question was asked, and never sooner than ``settle`` after
    it is scheduled: a question replayed from a backlog older than the delay is nudged only once the
    answers further down the backlog have had time to cancel it."""

    async def question_asked(envelope: Envelope) -> None:
        e = envelope.payload(content.QuestionAsked)
        asked = event_time(e, "create_time", envelope)
        await nudges.schedule(
            QuestionNudge(
                question_id=e.question_id,
                community_id=e.community_id,
                title=e.title,
                author_id=e.author_id,
                ask_time=asked,
                due_time=max(asked + unanswered_after, utc_now() + settle),
            )
        )
        on_scheduled()
        tags = normalise_tags(e.tags)
        candidates = {m: t for m, t in (await interests.interested(tags)).items() if m != e.author_id}
        if not candidates:
            return
        members = await memberships.members_among(e.community_id, sorted(candidates))
        for notification in new_question_in_tag(
            event_id=envelope.id,
            question_id=e.question_id,
            title=e.title,
            community_id=e.community_id,
            asker_id=e.author_id,
            interested={m: first_match(tags, candidates[m]) for m in members},
            time=envelope.time,
        ):
            await notifier.deliver(notification)

    async def answer_posted(envelope: Envelope) -> None:
        e = envelope.payload(content.AnswerPosted)
        await nudges.cancel(e.question_id, envelope.time)

    async def post_removed(envelope: Envelope) -> None:
        e = envelope.payload(content.PostRemoved)
        if e.kind == "question":
            await nudges.cancel(e.post_id, envelope.time)

    return {
        "guild.content.question_asked.v1": question_asked,
        "guild.content.answer_posted.v1": answer_posted,
        "guild.content.post_removed.v1": post_removed,
    }


class UnansweredNudges(SweepingWorker):
    """Sends due nudges to the community's champions, once per question and champion: notifications
    are keyed by question and recipient, so a sweep repeated after a crash adds nothing."""

    def __init__(
        self,
        nudges: NudgeStore,
        memberships: Memberships,
        notifier: Notifier,
        *,
        sweep_seconds: float,
        batch_size: int = 50,
    ) -> None:
        super().__init__(sweep_seconds=sweep_seconds)
        self._nudges = nudges
        self._memberships = memberships
        self._notifier = notifier
        self._batch = batch_size

    async def sweep(self) -> bool:
        due = await self._nudges.due(utc_now(), self._batch)
        for nudge in due:
            if self.stopping:
                return False
            if not await self._nudges.still_pending(nudge.question_id):
                continue  # answered since it was read
            champions = await self._memberships.with_roles(nudge.community_id, CHAMPION_ROLES, MAX_CHAMPIONS)
            notified = 0
            for notification in unanswered_nudges(nudge, champions, utc_now()):
                if notified and not await self._nudges.still_pending(nudge.question_id):
                    break  # answered (or removed) while the champions were being told
                await self._notifier.deliver(notification)
                notified += 1
            await self._nudges.sent(nudge.question_id, utc_now())
            log.info("unanswered nudge sent", question_id=nudge.question_id, champions=notified)
        return len(due) == self._batch

    async def seconds_until_due(self) -> float | None:
        upcoming = await self._nudges.next_due()
        return None if upcoming is None else (upcoming - utc_now()).total_seconds()
