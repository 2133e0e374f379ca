"""Custom badges counted from content events and awarded by the community's active definitions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from guild_common.atomic import ConcurrentChange
from guild_common.events.inbound import Handler
from guild_common.events.meta import EventMeta
from guild_common.tags import normalise_tags
from guild_reputation.app.ports import BadgeDefinitions, BadgeStore, PostTags
from guild_reputation.domain.badges import Award
from guild_reputation.domain.custom_badges import CUSTOM, BadgeDefinition, Count, CountedEvent
from guild_reputation.domain.integration_events import (
    AnswerAccepted,
    AnswerPosted,
    CollectionFollowed,
    CollectionPublished,
    CommentPosted,
    QuestionAsked,
    ResourceShared,
    VoteChanged,
    region_programme,
)
from guild_reputation.domain.periods import Calendar
from guild_reputation.domain.rules import upvote_delta

# Times a repeatable rolling window is evaluated again after another award claimed it first.
CLAIM_ATTEMPTS = 16

Tags = Callable[[], Awaitable[Sequence[str]]]


class CustomBadgeRules:
    """Counts events for the community's active definitions and awards what they earn.

    Each event is counted under a natural key (the post, or the pair of member and post), so
    redelivery, or undoing and redoing (a vote retracted and cast again), counts once.
    """

    def __init__(
        self, definitions: BadgeDefinitions, awards: BadgeStore, post_tags: PostTags, calendar: Calendar
    ) -> None:
        self._definitions = definitions
        self._awards = awards
        self._post_tags = post_tags
        self._calendar = calendar

    async def _counted(
        self,
        meta: EventMeta,
        kind: CountedEvent,
        community_id: str,
        member_id: str,
        key: str,
        tags: Tags,
    ) -> None:
        definitions = await self._definitions.active(community_id, kind)
        if not definitions:
            return
        known_tags = set(await tags()) if any(d.template.tag for d in definitions) else set()
        region, programme = region_programme(meta)
        for definition in definitions:
            if definition.template.tag and definition.template.tag not in known_tags:
                continue
            count = definition.count(self._calendar, meta.time)
            await self._definitions.tick(definition.id, key, member_id, count)
            if definition.rolls_over:
                await self._award_rolling(meta, definition, member_id, count, region, programme)
                continue
            award_id = definition.award_id(member_id, count.award_key)
            if await self._awards.get(award_id) is not None:
                continue
            if (
                await self._definitions.counted(definition.id, member_id, count)
                < definition.template.threshold
            ):
                continue
            await self._awards.award(
                self._award(meta, definition, member_id, award_id), region=region, programme=programme
            )

    async def _award_rolling(
        self,
        meta: EventMeta,
        definition: BadgeDefinition,
        member_id: str,
        count: Count,
        region: str,
        programme: str,
    ) -> None:
        """A repeatable rolling window counts the events since the day after the member's last award
        (within the window), so no event counts towards two awards.

        The award first claims the window: the day of the last award moves from the one read to this
        event's by a guarded update, so of two replicas evaluating the member at once one awards and the
        other reads again. An award claimed but not stored (a crash in between) is stored by the
        redelivery, which finds this day claimed and no award of it.
        """
        award_id = definition.award_id(member_id, count.award_key)
        threshold = definition.template.threshold
        award = self._award(meta, definition, member_id, award_id)
        for _ in range(CLAIM_ATTEMPTS):
            if await self._awards.get(award_id) is not None:
                # Awarded on this event's day already (perhaps without the day kept, by a crash).
                await self._definitions.awarded_on(definition.id, member_id, count.day)
                return
            kept = await self._definitions.last_award_day(definition.id, member_id)
            if kept == count.day:
                await self._awards.award(award, region=region, programme=programme)
                return
            last = kept
            if last is None:
                # Awards stored before the last award's day was kept: the window counts from after them.
                earlier = [
                    await self._awards.get(definition.award_id(member_id, key))
                    for key in definition.legacy_award_keys(count.day)
                ]
                days = [definition.day_number(self._calendar, a.time) for a in earlier if a is not None]
                last = max(days) if days else None
            window = count if last is None else replace(count, window_start=max(count.window_start, last + 1))
            if await self._definitions.counted(definition.id, member_id, window) < threshold:
                return
            if await self._definitions.claim_award_day(definition.id, member_id, kept, count.day):
                await self._awards.award(award, region=region, programme=programme)
                return
        raise ConcurrentChange(f"the awards of {member_id[:64]} changed on each of {CLAIM_ATTEMPTS} tries")

    @staticmethod
    def _award(meta: EventMeta, definition: BadgeDefinition, member_id: str, award_id: str) -> Award:
        return Award(
            id=award_id,
            community_id=definition.community_id,
            member_id=member_id,
            badge=CUSTOM,
            tier=definition.tier,
            time=meta.time,
            source_event_id=meta.id,
            definition_id=definition.id,
            custom_title=definition.title,
            description=definition.description,
            criteria=definition.template.narrative(),
        )

    def _tags_of(self, post_id: str, question_id: str = "") -> Tags:
        async def tags() -> Sequence[str]:
            found = await self._post_tags.tags_of(post_id)
            if not found and question_id and question_id != post_id:
                found = await self._post_tags.tags_of(question_id)
            return found

        return tags

    @staticmethod
    def _given(tags: Sequence[str]) -> Tags:
        async def given() -> Sequence[str]:
            return normalise_tags(tags)

        return given

    async def question_asked(self, e: QuestionAsked) -> None:
        await self._counted(
            e.meta,
            CountedEvent.QUESTION_ASKED,
            e.community_id,
            e.author_id,
            e.question_id,
            self._given(e.tags),
        )

    async def answer_posted(self, e: AnswerPosted) -> None:
        if e.author_id == e.question_author_id:
            return
        tags = self._tags_of(e.question_id)
        await self._counted(
            e.meta, CountedEvent.ANSWER_POSTED, e.community_id, e.author_id, e.answer_id, tags
        )

    async def answer_accepted(self, e: AnswerAccepted) -> None:
        if e.answer_author_id == e.question_author_id:
            return
        tags = self._tags_of(e.answer_id, e.question_id)
        await self._counted(
            e.meta, CountedEvent.ANSWER_ACCEPTED, e.community_id, e.answer_author_id, e.answer_id, tags
        )

    async def vote_changed(self, e: VoteChanged) -> None:
        if e.voter_id == e.target_author_id or upvote_delta(e.previous_value, e.value) <= 0:
            return
        await self._counted(
            e.meta,
            CountedEvent.UPVOTE_RECEIVED,
            e.community_id,
            e.target_author_id,
            f"{e.target_id}:{e.voter_id}",
            self._tags_of(e.target_id, e.question_id),
        )

    async def resource_shared(self, e: ResourceShared) -> None:
        await self._counted(
            e.meta,
            CountedEvent.RESOURCE_SHARED,
            e.community_id,
            e.author_id,
            e.resource_id,
            self._given(e.tags),
        )

    async def comment_posted(self, e: CommentPosted) -> None:
        tags = self._tags_of(e.post_id, e.question_id)
        await self._counted(
            e.meta, CountedEvent.COMMENT_POSTED, e.community_id, e.author_id, e.comment_id, tags
        )

    async def collection_published(self, e: CollectionPublished) -> None:
        await self._counted(
            e.meta,
            CountedEvent.COLLECTION_PUBLISHED,
            e.community_id,
            e.curator_id,
            e.collection_id,
            self._given([]),
        )

    async def collection_followed(self, e: CollectionFollowed) -> None:
        if e.follower_id == e.curator_id:
            return
        await self._counted(
            e.meta,
            CountedEvent.COLLECTION_FOLLOWED,
            e.community_id,
            e.curator_id,
            f"{e.collection_id}:{e.follower_id}",
            self._given([]),
        )

    def handlers(self) -> dict[type, Handler]:
        return {
            QuestionAsked: self.question_asked,
            AnswerPosted: self.answer_posted,
            AnswerAccepted: self.answer_accepted,
            VoteChanged: self.vote_changed,
            ResourceShared: self.resource_shared,
            CommentPosted: self.comment_posted,
            CollectionPublished: self.collection_published,
            CollectionFollowed: self.collection_followed,
        }
