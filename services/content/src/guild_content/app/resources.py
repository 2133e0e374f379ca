"""Shared resources: links shared in a community, their ratings, reviews and outdated marks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from guild_common.auth import Principal
from guild_common.clock import utc_now
from guild_common.errors import NotFound
from guild_common.pagination import Page, clamp_page_size
from guild_content.app.access import CommunityAccess, id_for, require
from guild_content.app.ports import MembershipDirectory, ResourceRepository
from guild_content.domain.community import ensure_curator
from guild_content.domain.resources import RatingSummary, Resource, Review


class ResourceUseCases(CommunityAccess):
    def __init__(
        self,
        resources: ResourceRepository,
        directory: MembershipDirectory,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        super().__init__(directory)
        self._resources = resources
        self._clock = clock

    async def share_resource(
        self,
        caller: Principal,
        community_id: str,
        url: str,
        title: str,
        summary: str,
        media_type: str,
        tags: list[str],
        request_id: str,
    ) -> tuple[Resource, bool]:
        """Share a link; a URL already shared in the community gives the earlier resource and True."""
        require(community_id=community_id)
        community, _ = await self._member_of(caller, community_id)
        community.ensure_writable()
        resource = Resource.share(
            id=id_for("resource", caller, request_id),
            community_id=community_id,
            author_id=caller.subject,
            url=url,
            title=title,
            summary=summary,
            media_type=media_type,
            tags=tags,
            now=self._clock(),
        )
        return await self._resources.add_resource(resource, community)

    async def get_resource(self, caller: Principal, resource_id: str) -> Resource:
        resource = await self._resource(resource_id)
        await self._readable(caller, resource.community_id)
        return resource

    async def list_resources(
        self, caller: Principal, community_id: str, top_rated: bool, page_size: int, page_token: str
    ) -> Page[Resource]:
        require(community_id=community_id)
        size = clamp_page_size(page_size, default=20, maximum=100)
        await self._readable(caller, community_id)
        return await self._resources.list_resources(community_id, top_rated, size, page_token)

    async def rate(
        self, caller: Principal, item_id: str, stars: int, review: str
    ) -> tuple[int, RatingSummary]:
        """Rate an item 1-5, once per member: rating again replaces the earlier rating."""
        item = await self._resource(item_id)
        community, _ = await self._member_of(caller, item.community_id)
        community.ensure_writable()
        item.check_rating(caller.subject, stars, review)
        return await self._resources.rate(item, caller.subject, stars, review, self._clock(), community)

    async def list_reviews(
        self, caller: Principal, item_id: str, page_size: int, page_token: str
    ) -> Page[Review]:
        size = clamp_page_size(page_size, default=20, maximum=100)
        item = await self._resource(item_id)
        await self._readable(caller, item.community_id)
        return await self._resources.list_reviews(item.id, size, page_token)

    async def mark_outdated(self, caller: Principal, resource_id: str) -> int:
        item = await self._resource(resource_id)
        community, _ = await self._member_of(caller, item.community_id)
        community.ensure_writable()
        return await self._resources.mark_outdated(item, caller.subject, self._clock(), community)

    async def list_outdated(
        self, caller: Principal, community_id: str, page_size: int, page_token: str
    ) -> Page[Resource]:
        require(community_id=community_id)
        size = clamp_page_size(page_size, default=20, maximum=100)
        _, membership = await self._member_of(caller, community_id)
        ensure_curator(membership)
        return await self._resources.list_outdated(community_id, size, page_token)

    async def _resource(self, resource_id: str) -> Resource:
        require(resource_id=resource_id)
        resource = await self._resources.get_resource(resource_id)
        if resource is None:
            raise NotFound(f"resource {resource_id} not found", reason="RESOURCE_NOT_FOUND")
        return resource
