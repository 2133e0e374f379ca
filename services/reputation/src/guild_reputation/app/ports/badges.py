"""The badges' ports: awards and facts, collections and ratings, owners' definitions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from guild_common.pagination import Page
from guild_reputation.domain.badges import Award
from guild_reputation.domain.custom_badges import BadgeDefinition, Count, CountedEvent


@dataclass(frozen=True)
class CuratedCollection:
    """A published collection as the curator badge sees it."""

    collection_id: str
    community_id: str
    curator_id: str
    item_ids: tuple[str, ...]


class Ratings(Protocol):
    async def rate(self, item_id: str, rater_id: str, stars: int, at: datetime) -> int:
        """Store the rater's stars for the item unless a later rating is stored; the current stars."""
        ...

    async def item_average(self, item_id: str, average: float, count: int, at: datetime) -> None:
        """Store the item's average rating unless a later one is stored."""
        ...

    async def averages(self, item_ids: Sequence[str]) -> dict[str, float]:
        """The known averages of the items (items never rated are left out)."""
        ...

    async def publish(self, collection: CuratedCollection, at: datetime) -> None:
        """Store a published collection's items unless a later publication is stored."""
        ...

    async def collection(self, collection_id: str) -> CuratedCollection | None: ...

    async def collections_with(self, item_id: str) -> list[CuratedCollection]:
        """The published collections the item is in."""
        ...


class BadgeStore(Protocol):
    async def award(self, award: Award, *, region: str, programme: str) -> bool:
        """Store the award with its ``badge_awarded`` event; False when awarded before."""
        ...

    async def get(self, award_id: str) -> Award | None: ...

    async def list(
        self,
        member_id: str,
        community_id: str,
        page_size: int,
        page_token: str,
        *,
        exclude: frozenset[str] = frozenset(),
    ) -> Page[Award]:
        """The member's awards, newest first, leaving out those of the ``exclude`` communities."""
        ...

    async def award_communities(self, member_id: str) -> frozenset[str]:
        """Every community the member holds an award of."""
        ...

    async def add_fact(
        self, fact_id: str, *, community_id: str, member_id: str, kind: str, subject_id: str
    ) -> None:
        """Record a fact once under its natural key."""
        ...

    async def count_facts(self, community_id: str, kind: str, subject_id: str) -> int: ...

    async def fact_subjects(self, community_id: str, member_id: str, kind: str) -> set[str]: ...

    async def distinct_targets(self, community_id: str, member_id: str, rule: str) -> int:
        """How many different posts earned the member a ledger entry under ``rule``."""
        ...


class BadgeDefinitions(Protocol):
    async def create(self, definition: BadgeDefinition) -> BadgeDefinition:
        """Store the definition; the one stored before under its id when it exists."""
        ...

    async def get(self, definition_id: str) -> BadgeDefinition | None: ...

    async def archive(self, definition_id: str, at: datetime) -> BadgeDefinition | None: ...

    async def page(
        self, community_id: str, include_archived: bool, page_size: int, page_token: str
    ) -> Page[BadgeDefinition]: ...

    async def active(self, community_id: str, event_type: CountedEvent) -> list[BadgeDefinition]: ...

    async def tick(self, definition_id: str, event_id: str, member_id: str, count: Count) -> None:
        """Count the event (by its natural key) for the definition once."""
        ...

    async def counted(self, definition_id: str, member_id: str, count: Count) -> int: ...

    async def last_award_day(self, definition_id: str, member_id: str) -> int | None:
        """The day number of the member's latest award of a repeatable rolling window."""
        ...

    async def awarded_on(self, definition_id: str, member_id: str, day: int) -> None:
        """Keep ``day`` as the day of the member's latest award unless a later one is kept."""
        ...

    async def claim_award_day(self, definition_id: str, member_id: str, read: int | None, day: int) -> bool:
        """Move the day of the member's latest award from ``read`` (None: none kept) to ``day``
        atomically; False when it is no longer ``read``."""
        ...
