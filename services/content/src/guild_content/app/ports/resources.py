"""What the resource use cases need of their store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from guild_common.pagination import Page
from guild_content.domain.community import CommunityView
from guild_content.domain.resources import RatingSummary, Resource, Review


@dataclass(frozen=True)
class IndexedResource:
    resource: Resource
    terms: list[str]
    title_terms: list[str]


class ResourceRepository(Protocol):
    async def add_resource(self, resource: Resource, community: CommunityView) -> tuple[Resource, bool]:
        """Store a new resource; (stored resource, True) if its id or URL was there already."""
        ...

    async def get_resource(self, resource_id: str) -> Resource | None: ...

    async def list_resources(
        self, community_id: str, top_rated: bool, page_size: int, page_token: str
    ) -> Page[Resource]: ...

    async def rate(
        self, item: Resource, rater_id: str, stars: int, review: str, now: datetime, community: CommunityView
    ) -> tuple[int, RatingSummary]:
        """Store a member's rating and move the item's counts by it; (previous stars, summary)."""
        ...

    async def list_reviews(self, item_id: str, page_size: int, page_token: str) -> Page[Review]: ...

    async def mark_outdated(
        self, item: Resource, member_id: str, now: datetime, community: CommunityView
    ) -> int:
        """Record a member's outdated mark once; returns the item's number of marks."""
        ...

    async def list_outdated(self, community_id: str, page_size: int, page_token: str) -> Page[Resource]: ...

    async def search_candidates(
        self, community_ids: list[str], query_terms: list[str], tag: str, limit: int
    ) -> list[IndexedResource]:
        """Resources sharing a term with the query: per term at most ``limit`` of the newest; each once."""
        ...
