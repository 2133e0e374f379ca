"""What the reputation use cases need from storage."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from guild_reputation.domain.rules import LedgerEntry, Rule


@dataclass(frozen=True)
class Total:
    community_id: str
    member_id: str
    points: int


class Ledger(Protocol):
    async def record(self, entry: LedgerEntry, *, region: str, programme: str) -> Total:
        """Append ``entry`` unless its id is recorded already; returns the member's total after it."""
        ...

    async def net_for_target(
        self, community_id: str, member_id: str, target_id: str, rules: list[Rule]
    ) -> int:
        """Sum of the member's entries about ``target_id`` under ``rules``."""
        ...

    def totals(self) -> AsyncIterator[Total]:
        """Every stored total, streamed in batches."""
        ...
