"""What the curation use cases need of their store, and the front page other use cases update."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from guild_common.pagination import Page
from guild_content.domain.community import CommunityView
from guild_content.domain.curation import Collection, Feature
from guild_content.domain.duplicates import DuplicateMarked


class CurationRepository(Protocol):
    async def mark_duplicate(self, mark: DuplicateMarked, community: CommunityView) -> str:
        """Point the question at the one it duplicates (with the event) unless it points somewhere
        already; returns what it points to after the call ("" if the question is gone)."""
        ...

    async def unmark_duplicate(self, mark: DuplicateMarked, community: CommunityView) -> bool:
        """Clear the question's pointer if it is ``mark.duplicate_of`` (with the event); whether it was."""
        ...

    async def add_collection(self, collection: Collection) -> Collection:
        """Store a new collection; returns the stored one if the id exists already."""
        ...

    async def get_collection(self, collection_id: str) -> Collection | None: ...

    async def change_collection(
        self, collection_id: str, change: Callable[[Collection], object], community: CommunityView
    ) -> Collection:
        """Apply ``change`` to the stored collection and store it with its events, atomically.

        ``change`` may run again on a newer state if the collection changed meanwhile: no side effects.
        """
        ...

    async def list_collections(
        self, community_id: str, published: bool, page_size: int, page_token: str
    ) -> Page[Collection]: ...

    async def set_following(
        self, collection: Collection, member_id: str, follow: bool, now: datetime, community: CommunityView
    ) -> int:
        """Record or drop a member's follow; returns the number of followers after it."""
        ...

    async def is_following(self, collection_id: str, member_id: str) -> bool: ...

    async def feature(self, feature: Feature, community: CommunityView) -> Feature:
        """Put an item on the front page with its events; an item featured already is returned as stored."""
        ...

    async def unfeature(self, feature_id: str) -> bool: ...

    async def list_features(self, community_id: str, page_size: int, page_token: str) -> Page[Feature]: ...


class FeaturedItems(Protocol):
    async def unfeature(self, feature_id: str) -> bool:
        """Take an item off its community's front page; False if it was not on it."""
        ...
