"""The expert directory: a read model of reputation by topic, kept by ``experts_handlers``, and its query."""

from __future__ import annotations

from guild_common.auth import Principal
from guild_common.errors import Validator
from guild_common.pagination import Page, clamp_page_size
from guild_community.app.ports import CommunityVisibility, ExpertDirectory
from guild_community.domain.experts import ALL_COMMUNITIES, TOPIC, Expert, normalise_topic


class ExpertQueries:
    def __init__(self, directory: ExpertDirectory, communities: CommunityVisibility) -> None:
        self._directory = directory
        self._communities = communities

    async def list_experts(
        self, caller: Principal, community_id: str, tag: str, page_size: int, page_token: str
    ) -> Page[Expert]:
        topic = normalise_topic(tag)
        check = Validator()
        check.require(bool(topic), "tag", "must not be empty")
        check.require(
            not topic or bool(TOPIC.match(topic)),
            "tag",
            "1-40 lowercase letters, digits or '-', '_', '+', '#', '.', starting with a letter or digit",
        )
        check.check()
        size = clamp_page_size(page_size, default=20, maximum=100)
        if community_id:
            await self._communities.visible_community(caller, community_id)
        return await self._directory.list_experts(community_id or ALL_COMMUNITIES, topic, size, page_token)
