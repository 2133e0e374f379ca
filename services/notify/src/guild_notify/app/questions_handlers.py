"""Questions beyond the asker: who follows which tags and who declared expertise in them, the members of
a question's community who do hear of it at once, and its unanswered nudge scheduled and cancelled."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from guild_common.clock import utc_now
from guild_common.events.inbound import Handler
from guild_common.tags import normalise_tag, normalise_tags
from guild_notify.app.notifier import Notifier
from guild_notify.app.ports import Memberships, NudgeStore, TagInterests
from guild_notify.domain.integration_events import (
    AnswerPosted,
    PostRemoved,
    ProfileUpdated,
    QuestionAsked,
    TagFollowed,
    TagUnfollowed,
)
from guild_notify.domain.questions import QuestionNudge, first_match, new_question_in_tag

# The least time between scheduling a nudge and sending it.
NUDGE_SETTLE = timedelta(seconds=60)


class InterestHandlers:
    """Keep who follows which tags (content events) and who declared expertise in them (profiles)."""

    def __init__(self, interests: TagInterests) -> None:
        self._interests = interests

    async def followed(self, e: TagFollowed) -> None:
        if e.member_id and normalise_tag(e.tag):
            await self._interests.followed(e.member_id, normalise_tag(e.tag), e.follow_time)

    async def unfollowed(self, e: TagUnfollowed) -> None:
        if e.member_id and normalise_tag(e.tag):
            await self._interests.unfollowed(e.member_id, normalise_tag(e.tag), e.unfollow_time)

    async def profile_updated(self, e: ProfileUpdated) -> None:
        if e.member_id:
            await self._interests.expertise(e.member_id, normalise_tags(e.expertise), e.update_time)

    def handlers(self) -> dict[type, Handler]:
        return {
            TagFollowed: self.followed,
            TagUnfollowed: self.unfollowed,
            ProfileUpdated: self.profile_updated,
        }


class QuestionHandlers:
    """On a new question: schedule its unanswered nudge, then tell the members of its community who
    follow or are expert in one of its tags. On an answer, or the question's removal: cancel the nudge.

    A nudge falls due ``unanswered_after`` the question was asked, and never sooner than ``settle`` after
    it is scheduled: a question replayed from a backlog older than the delay is nudged only once the
    answers further down the backlog have had time to cancel it."""

    def __init__(
        self,
        notifier: Notifier,
        memberships: Memberships,
        interests: TagInterests,
        nudges: NudgeStore,
        *,
        unanswered_after: timedelta,
        settle: timedelta = NUDGE_SETTLE,
        on_scheduled: Callable[[], None] = lambda: None,
    ) -> None:
        self._notifier = notifier
        self._memberships = memberships
        self._interests = interests
        self._nudges = nudges
        self._unanswered_after = unanswered_after
        self._settle = settle
        self._on_scheduled = on_scheduled

    async def question_asked(self, e: QuestionAsked) -> None:
        asked = e.create_time
        await self._nudges.schedule(
            QuestionNudge(
                question_id=e.question_id,
                community_id=e.community_id,
                title=e.title,
                author_id=e.author_id,
                ask_time=asked,
                due_time=max(asked + self._unanswered_after, utc_now() + self._settle),
            )
        )
        self._on_scheduled()
        tags = normalise_tags(e.tags)
        candidates = {m: t for m, t in (await self._interests.interested(tags)).items() if m != e.author_id}
        if not candidates:
            return
        members = await self._memberships.members_among(e.community_id, sorted(candidates))
        for notification in new_question_in_tag(
            event_id=e.meta.id,
            question_id=e.question_id,
            title=e.title,
            community_id=e.community_id,
            asker_id=e.author_id,
            interested={m: first_match(tags, candidates[m]) for m in members},
            time=e.meta.time,
        ):
            await self._notifier.deliver(notification)

    async def answer_posted(self, e: AnswerPosted) -> None:
        await self._nudges.cancel(e.question_id, e.meta.time)

    async def post_removed(self, e: PostRemoved) -> None:
        if e.kind == "question":
            await self._nudges.cancel(e.post_id, e.meta.time)

    def handlers(self) -> dict[type, Handler]:
        return {
            QuestionAsked: self.question_asked,
            AnswerPosted: self.answer_posted,
            PostRemoved: self.post_removed,
        }
