"""What the reputation use cases need from storage and from other services."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from guild_reputation.domain.badges import Award
from guild_reputation.domain.rules import LedgerEntry, Rule, RuleSetting


@dataclass(frozen=True)
class Total:
    """A member's points on one board (community or ``*``) in one period (``all`` or a week/month key)."""

    community_id: str
    member_id: str
    points: int
    period: str = "all"


@dataclass(frozen=True)
class TagTotal:
    """A member's points in a community from entries about posts with ``tag``."""

    community_id: str
    tag: str
    member_id: str
    points: int


class Ledger(Protocol):
    async def record(self, entry: LedgerEntry, *, region: str, programme: str) -> list[Total]:
        """Append ``entry`` unless its id is recorded already; returns the member's totals after it
        on the community and global boards for all time, the entry's week and its month."""
        ...

    async def resume(self, entry_ids: Collection[str]) -> list[LedgerEntry]:
        """Finish those of the entries left recorded but not released (a crash part-way through
        recording them): count them as recorded, then release them; the entries finished."""
        ...

    async def net_for_target(
        self, community_id: str, member_id: str, target_id: str, rules: list[Rule], actor_id: str = ""
    ) -> int:
        """Sum of the member's entries about ``target_id`` under ``rules`` (from ``actor_id`` if given)."""
        ...

    async def tags_for_target(self, community_id: str, member_id: str, target_id: str) -> list[str]:
        """Every tag the member's entries about ``target_id`` were recorded with."""
        ...

    async def count_for_target(
        self, community_id: str, member_id: str, target_id: str, rule: Rule, actor_id: str = ""
    ) -> int:
        """How many of the member's entries about ``target_id`` are under ``rule`` (from ``actor_id``
        if given), whatever their amounts."""
        ...

    async def top_by_tag(
        self, community_id: str, tag: str, page_size: int, page_token: str
    ) -> tuple[list[TagTotal], str]:
        """Members with points on ``tag`` in the community, most first (ties in a stable order)."""
        ...

    async def has_entry(
        self,
        community_id: str,
        member_id: str,
        target_id: str,
        rule: Rule,
        actor_id: str = "",
        other_than: str = "",
    ) -> bool:
        """Whether the member has an entry about ``target_id`` under ``rule`` (caused by ``actor_id``,
        and other than the entry ``other_than``)."""
        ...

    async def earned_on(self, community_id: str, member_id: str, rule: Rule, moment: datetime) -> int:
        """Points the member gained by ``rule`` on the calendar day of ``moment``."""
        ...

    async def stored_totals(self, community_id: str, member_id: str, moment: datetime) -> list[Total]:
        """The stored totals an entry at ``moment`` touches."""
        ...

    def totals(self, periods: Collection[str]) -> AsyncIterator[Total]:
        """Every stored total of the given periods, streamed in batches."""
        ...

    def totals_changed_since(self, periods: Collection[str], since: datetime) -> AsyncIterator[Total]:
        """The stored totals of the given periods written at or after ``since``."""
        ...

    async def prune_journal(self, before: datetime) -> int:
        """Forget what ``totals_changed_since`` would tell of writes before ``before``."""
        ...


@dataclass(frozen=True)
class SnapshotHead:
    """A complete snapshot of the boards: what they held at ``as_of``."""

    snapshot_id: str
    as_of: datetime
    members: int


@dataclass(frozen=True)
class BoardChunk:
    """Part of one board in a snapshot: (member, points) pairs as two parallel lists."""

    community_id: str
    period: str
    member_ids: list[str]
    points: list[int]


class BoardSnapshots(Protocol):
    async def latest(self) -> SnapshotHead | None:
        """The newest complete snapshot."""
        ...

    def chunks(self, snapshot_id: str) -> AsyncIterator[BoardChunk]: ...

    async def write(self, head: SnapshotHead, chunks: Sequence[BoardChunk]) -> datetime:
        """Store the chunks, then the head that makes them visible; drop all but the newest snapshots.
        Returns the time of the oldest snapshot kept."""
        ...

    async def discard(self) -> None:
        """Drop every snapshot (the totals changed in a way no snapshot shows)."""
        ...


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


class PostTags(Protocol):
    async def remember(self, post_id: str, tags: Sequence[str], *, question_id: str = "") -> None:
        """Store a post's tags, or for an answer its question's id (whose tags it takes)."""
        ...

    async def tags_of(self, post_id: str) -> list[str]:
        """The post's tags; empty when unknown."""
        ...


class PointsRules(Protocol):
    async def overrides(self, community_id: str) -> dict[str, RuleSetting]: ...

    async def set_overrides(self, community_id: str, overrides: dict[str, RuleSetting], by: str) -> None: ...


class RoleDirectory(Protocol):
    async def role(self, community_id: str, member_id: str) -> str | None:
        """The member's role name (member, champion, curator, moderator, owner), or None if not a member."""
        ...

    async def routing(self, community_id: str, member_id: str) -> tuple[str, str]:
        """Region and programme of the community, as known with a membership."""
        ...


class RoleWriter(Protocol):
    async def put(
        self,
        community_id: str,
        member_id: str,
        role: str,
        as_of: datetime,
        *,
        region: str = "",
        programme: str = "",
    ) -> None:
        """Store the member's role (``""`` once they left) unless a newer change is stored."""
        ...


class BadgeStore(Protocol):
    async def award(self, award: Award, *, region: str, programme: str) -> bool:
        """Store the award with its ``badge_awarded`` event; False when awarded before."""
        ...

    async def get(self, award_id: str) -> Award | None: ...

    async def list(
        self, member_id: str, community_id: str, page_size: int, page_token: str
    ) -> tuple[list[Award], str]: ...

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
