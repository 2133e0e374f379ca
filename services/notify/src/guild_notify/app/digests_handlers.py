"""Keep what is new in each community, the material of digests."""

from __future__ import annotations

from guild_common.events.inbound import Handler
from guild_notify.app.ports import ContentFeed
from guild_notify.domain.digests import ContentItem
from guild_notify.domain.integration_events import QuestionAsked


class DigestHandlers:
    def __init__(self, feed: ContentFeed) -> None:
        self._feed = feed

    async def question_asked(self, e: QuestionAsked) -> None:
        await self._feed.record(
            ContentItem(
                id=f"question:{e.question_id}",
                community_id=e.community_id,
                kind="question",
                title=e.title,
                author_id=e.author_id,
                create_time=e.meta.time,
            )
        )

    def handlers(self) -> dict[type, Handler]:
        return {QuestionAsked: self.question_asked}
