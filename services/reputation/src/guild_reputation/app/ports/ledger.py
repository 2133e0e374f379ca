"""The ledger's ports: recording entries, the counters decisions read, the rules they apply."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from guild_common.pagination import Page
from guild_reputation.domain.rules import LedgerEntry, Rule, RuleSetting


@dataclass(frozen=True)
class Total:
    """A member's points on one board (community or ``*``) in one period (``all`` or a week/month key)."""

    community_id: str
    member_id: str
    points: int
    period: str = "all"
    # Entries counted in it: only ever grows, so of two reads of a total the larger is the newer.
    entries: int = 0


@dataclass(frozen=True)
class TagTotal:
    """A member's points in a community from entries about posts with ``tag``."""

    community_id: str
    tag: str
    member_id: str
    points: int


class StaleDecision(Exception):
    """The counter a decision was made on changed before the entry was counted: decide again."""


@dataclass(frozen=True)
class Guard:
    """What one of an entry's counters held when the entry was decided on: ``field`` equal to ``value``
    (``None``: absent). The entry counts only while the counter still holds that, else
    :class:`StaleDecision` is raised and the entry is not recorded."""

    counter_id: str
    field: str
    value: int | None = None


# Field of a target counter that exists once the post was removed by a moderator.
REMOVED_FIELD = f"rules.{Rule.POST_REMOVED.value}.count"


@dataclass(frozen=True)
class TargetState:
    """A member's counters about one target (and one actor's share of them) as read at one moment."""

    counter_id: str
    actor_counter_id: str
    target: Mapping[str, Any]
    actor: Mapping[str, Any]
    # Among the entry ids asked about, those the counters hold (counted in part or in full).
    held: frozenset[str] = frozenset()

    def _rules(self, by_actor: bool) -> Mapping[str, Any]:
        rules: Mapping[str, Any] = (self.actor if by_actor else self.target).get("rules", {})
        return rules

    @property
    def removed(self) -> bool:
        return int(self._rules(False).get(Rule.POST_REMOVED.value, {}).get("count", 0)) > 0

    @property
    def tags(self) -> list[str]:
        return sorted(str(t) for t in self.target.get("tags", []))

    def net(self, rules: Collection[Rule], *, by_actor: bool = False) -> int:
        by_rule = self._rules(by_actor)
        return sum(int(by_rule.get(rule.value, {}).get("points", 0)) for rule in rules)

    def count(self, rule: Rule, *, by_actor: bool = False) -> int:
        return int(self._rules(by_actor).get(rule.value, {}).get("count", 0))

    def not_removed(self) -> Guard:
        return Guard(self.counter_id, REMOVED_FIELD)

    def unchanged(self, *, by_actor: bool = False) -> Guard:
        """Nothing counted about the target (by the actor) since the read."""
        doc = self.actor if by_actor else self.target
        entries = doc.get("entries")
        return Guard(
            self.actor_counter_id if by_actor else self.counter_id,
            "entries",
            None if entries is None else int(entries),
        )

    def actor_without(self, rule: Rule) -> Guard:
        """The actor has caused no entry under ``rule`` about the target yet."""
        return Guard(self.actor_counter_id, f"rules.{rule.value}.count")


class Ledger(Protocol):
    async def record(
        self, entry: LedgerEntry, *, region: str, programme: str, guard: Guard | None = None
    ) -> None:
        """Append ``entry`` unless its id is recorded already, count it in every counter once and
        release its ``points_changed`` event. With a ``guard``, raises :class:`StaleDecision` (and
        records nothing) when the guarded counter no longer holds what the decision read."""
        ...

    async def resume(self, entry_ids: Collection[str]) -> list[LedgerEntry]:
        """Finish those of the entries left recorded but not released (a crash part-way through
        recording them): count them as recorded, then release them; the entries finished."""
        ...

    async def target_state(
        self, community_id: str, member_id: str, target_id: str, actor_id: str, entry_ids: Collection[str]
    ) -> TargetState:
        """The member's counters about ``target_id`` (and ``actor_id``'s share), in one read, and which
        of ``entry_ids`` they hold."""
        ...

    async def reserve_daily(self, entry: LedgerEntry, cap: int) -> int:
        """Take the entry's points from the member's daily room under ``cap`` for its rule and day,
        once per entry id; what it may earn (less than its points when the cap cuts it)."""
        ...

    async def unreserve_daily(self, entry: LedgerEntry) -> None:
        """Give back what ``reserve_daily`` took for an entry that is not recorded after all."""
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
    ) -> Page[TagTotal]:
        """Members with points on ``tag`` in the community, most first (ties in a stable order)."""
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
        """Forget the totals journal of earlier versions from before ``before`` (totals now carry the
        time they were written, which is what ``totals_changed_since`` reads)."""
        ...


class PostTags(Protocol):
    async def remember(
        self, post_id: str, tags: Sequence[str], *, question_id: str = "", resolved: bool = False
    ) -> None:
        """Store a post's tags, or for an answer its question's id (whose tags it takes: ``tags`` are
        those when ``resolved``)."""
        ...

    async def tags_of(self, post_id: str) -> list[str]:
        """The post's tags; empty when unknown."""
        ...

    async def known_tags(self, post_id: str) -> list[str] | None:
        """The post's tags (an answer's: its question's), or None while the post or its question is
        unknown."""
        ...


class Waits(Protocol):
    async def first_seen(self, key: str, now: datetime) -> datetime:
        """When the wait for ``key`` began (``now``, the first time it is asked)."""
        ...

    async def forget(self, key: str) -> None: ...


class PointsRules(Protocol):
    async def overrides(self, community_id: str) -> dict[str, RuleSetting]: ...

    async def set_overrides(self, community_id: str, overrides: dict[str, RuleSetting], by: str) -> None: ...
