"""Handlers of community events that change the feeds: who follows whom."""

from __future__ import annotations

from guild_common.events.inbound import Handler
from guild_content.app.ports import PersonFollowStore
from guild_content.domain.integration_events import PersonFollowChanged


class FeedHandlers:
    def __init__(self, follows: PersonFollowStore) -> None:
        self._follows = follows

    async def person_follow_changed(self, event: PersonFollowChanged) -> None:
        await self._follows.set_person_follow(event.follower_id, event.followee_id, event.active, event.as_of)

    def handlers(self) -> dict[type, Handler]:
        return {PersonFollowChanged: self.person_follow_changed}
