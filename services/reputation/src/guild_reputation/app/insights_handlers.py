"""The insight read models, kept from content and community events."""

from __future__ import annotations

from guild_common.events.inbound import Handler
from guild_reputation.app.ports import InsightsStore
from guild_reputation.domain.insights import PostKind
from guild_reputation.domain.integration_events import (
    AnswerPosted,
    CommentPosted,
    MemberJoined,
    MemberLeft,
    QuestionAsked,
    ResourceShared,
    VoteChanged,
    region_programme,
)


class InsightsHandlers:
    """Keeps the insight read models from content and community events."""

    def __init__(self, store: InsightsStore) -> None:
        self._store = store

    async def question_asked(self, e: QuestionAsked) -> None:
        region, programme = region_programme(e.meta)
        await self._store.question_asked(
            e.question_id, e.community_id, region, programme, e.meta.time, list(e.tags)
        )
        await self._store.posted(
            e.question_id, PostKind.QUESTION, e.community_id, e.author_id, region, programme, e.meta.time
        )

    async def answer_posted(self, e: AnswerPosted) -> None:
        region, programme = region_programme(e.meta)
        await self._store.posted(
            e.answer_id,
            PostKind.ANSWER,
            e.community_id,
            e.author_id,
            region,
            programme,
            e.meta.time,
            question_id=e.question_id,
        )
        if e.author_id != e.question_author_id:  # the asker's own follow-up does not answer it
            await self._store.question_answered(e.question_id, e.community_id, region, programme, e.meta.time)

    async def comment_posted(self, e: CommentPosted) -> None:
        region, programme = region_programme(e.meta)
        await self._store.posted(
            e.comment_id, PostKind.COMMENT, e.community_id, e.author_id, region, programme, e.meta.time
        )

    async def resource_shared(self, e: ResourceShared) -> None:
        region, programme = region_programme(e.meta)
        await self._store.posted(
            e.resource_id, PostKind.RESOURCE, e.community_id, e.author_id, region, programme, e.meta.time
        )

    async def vote_changed(self, e: VoteChanged) -> None:
        if e.value == 0:
            return  # a retraction is not participation
        region, programme = region_programme(e.meta)
        await self._store.active(e.community_id, e.voter_id, region, programme, e.meta.time)

    async def member_joined(self, e: MemberJoined) -> None:
        region, programme = region_programme(e.meta)
        await self._store.member_joined(e.community_id, e.member_id, region, programme, e.meta.time)

    async def member_left(self, e: MemberLeft) -> None:
        region, programme = region_programme(e.meta)
        await self._store.member_left(e.community_id, e.member_id, region, programme, e.meta.time)

    def handlers(self) -> dict[type, Handler]:
        return {
            QuestionAsked: self.question_asked,
            AnswerPosted: self.answer_posted,
            CommentPosted: self.comment_posted,
            ResourceShared: self.resource_shared,
            VoteChanged: self.vote_changed,
            MemberJoined: self.member_joined,
            MemberLeft: self.member_left,
        }
