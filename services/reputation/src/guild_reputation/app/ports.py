"""What the reputation use cases need from storage and from other services."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
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


class Ledger(Protocol):
    async def record(self, entry: LedgerEntry, *, region: str, programme: str) -> list[Total]:
        """Append ``entry`` unless its id is recorded already; returns the member's totals after it
        on the community and global boards for all time, the entry's week and its month."""
        ...

    async def net_for_target(
        self, community_id: str, member_id: str, target_id: str, rules: list[Rule], actor_id: str = ""
    ) -> int:
        """Sum of the member's entries about ``target_id`` under ``rules`` (from ``actor_id`` if given)."""
        ...

    async def has_entry(self, community_id: str, member_id: str, target_id: str, rule: Rule) -> bool: ...

    async def earned_on(self, community_id: str, member_id: str, rule: Rule, moment: datetime) -> int:
        """Points the member gained by ``rule`` on the calendar day of ``moment``."""
        ...

    async def stored_totals(self, community_id: str, member_id: str, moment: datetime) -> list[Total]:
        """The stored totals an entry at ``moment`` touches."""
        ...

    def totals(self, periods: Collection[str]) -> AsyncIterator[Total]:
        """Every stored total of the given periods, streamed in batches."""
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
