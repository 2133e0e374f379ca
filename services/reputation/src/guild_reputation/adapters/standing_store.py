"""What the ledger's counters say of a member: totals by board and period, points by tag, the state of
their entries about one target (what the rules decide on), daily points and distinct targets.

Reads of counters by ``_id`` made at the same time are one ``find`` (``Batcher``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from datetime import datetime

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from guild_common.keyset import keyset_page
from guild_common.mongo import Document
from guild_common.pagination import Page
from guild_reputation.adapters import seen_writes
from guild_reputation.adapters.batched_writes import Batcher
from guild_reputation.adapters.ledger_documents import (
    COUNTERS,
    TAG_TOTALS,
    TOTALS,
    actor_counter_id,
    day_counter_id,
    target_counter_id,
    targets_counter_id,
    total_id,
)
from guild_reputation.app.ports import TagTotal, TargetState, Total
from guild_reputation.domain.periods import ALL_TIME, GLOBAL, Calendar
from guild_reputation.domain.rules import Rule

# Per ledger entry, the totals it gave (written by earlier versions; pruned after snapshots).
TOTALS_JOURNAL = "totals_journal"
TOTAL_FIELDS = {"community_id": 1, "member_id": 1, "points": 1, "period": 1, "entries": 1}


class StandingStore:
    """Reads of the counters the ledger keeps."""

    def __init__(self, db: AsyncDatabase[Document], calendar: Calendar) -> None:
        self._journal_docs = db[TOTALS_JOURNAL]
        self._totals = db[TOTALS]
        self._tag_totals = db[TAG_TOTALS]
        self._counters = db[COUNTERS]
        self._counter_collections: dict[str, AsyncCollection[Document]] = {
            TOTALS: self._totals,
            COUNTERS: self._counters,
        }
        self._calendar = calendar
        self._reads: dict[str, Batcher[list[str], dict[str, Document]]] = {
            name: Batcher(self._reader(name)) for name in (TOTALS, COUNTERS)
        }

    def _reader(self, name: str) -> Callable[[list[list[str]]], Awaitable[list[dict[str, Document]]]]:
        """Reads of counters by ``_id`` made at the same time, as one ``find``: each gets its own."""
        projection = TOTAL_FIELDS if name == TOTALS else None

        async def read(requests: list[list[str]]) -> list[dict[str, Document]]:
            ids = list(dict.fromkeys(i for request in requests for i in request))
            found = {
                doc["_id"]: doc
                async for doc in self._counter_collections[name].find({"_id": {"$in": ids}}, projection)
            }
            return [{i: found[i] for i in request if i in found} for request in requests]

        return read

    async def target_state(
        self, community_id: str, member_id: str, target_id: str, actor_id: str, entry_ids: Collection[str]
    ) -> TargetState:
        target = target_counter_id(community_id, member_id, target_id)
        actor = actor_counter_id(community_id, member_id, target_id, actor_id) if actor_id else ""
        docs = await self._reads[COUNTERS].submit([i for i in (target, actor) if i])
        held = frozenset(i for i in entry_ids for doc in docs.values() if seen_writes.holds(doc, i))
        return TargetState(target, actor, docs.get(target, {}), docs.get(actor, {}) if actor else {}, held)

    async def top_by_tag(
        self, community_id: str, tag: str, page_size: int, page_token: str
    ) -> Page[TagTotal]:
        docs, token = await keyset_page(
            self._tag_totals,
            {"community_id": community_id, "tag": tag, "points": {"$gt": 0}},
            sort_field="points",
            descending=True,
            page_size=page_size,
            page_token=page_token,
            projection={"member_id": 1, "points": 1},
        )
        return Page([TagTotal(community_id, tag, str(d["member_id"]), int(d["points"])) for d in docs], token)

    async def _target(self, community_id: str, member_id: str, target_id: str, actor_id: str) -> Document:
        """The counter of the member's entries about ``target_id`` (caused by ``actor_id`` if given)."""
        _id = actor_counter_id(community_id, member_id, target_id, actor_id) if actor_id else None
        doc = await self._counters.find_one(
            {"_id": _id or target_counter_id(community_id, member_id, target_id)}
        )
        return doc or {}

    async def tags_for_target(self, community_id: str, member_id: str, target_id: str) -> list[str]:
        """Every tag the member's entries about ``target_id`` were recorded with."""
        doc = await self._target(community_id, member_id, target_id, "")
        return sorted(str(t) for t in doc.get("tags", []))

    async def count_for_target(
        self, community_id: str, member_id: str, target_id: str, rule: Rule, actor_id: str = ""
    ) -> int:
        doc = await self._target(community_id, member_id, target_id, actor_id)
        return int(doc.get("rules", {}).get(rule.value, {}).get("count", 0))

    async def net_for_target(
        self, community_id: str, member_id: str, target_id: str, rules: list[Rule], actor_id: str = ""
    ) -> int:
        by_rule = (await self._target(community_id, member_id, target_id, actor_id)).get("rules", {})
        return sum(int(by_rule.get(rule.value, {}).get("points", 0)) for rule in rules)

    async def has_entry(
        self,
        community_id: str,
        member_id: str,
        target_id: str,
        rule: Rule,
        actor_id: str = "",
        other_than: str = "",
    ) -> bool:
        doc = await self._target(community_id, member_id, target_id, actor_id)
        count = int(doc.get("rules", {}).get(rule.value, {}).get("count", 0))
        if other_than and seen_writes.holds(doc, other_than):
            count -= 1  # ``other_than`` is one of them
        return count > 0

    async def distinct_targets(self, community_id: str, member_id: str, rule: str) -> int:
        """How many different targets earned the member an entry under ``rule`` (one of
        ``DISTINCT_TARGET_RULES``)."""
        doc = await self._counters.find_one(
            {"_id": targets_counter_id(community_id, member_id, rule)}, {"count": 1}
        )
        return int(doc["count"]) if doc else 0

    async def earned_on(self, community_id: str, member_id: str, rule: Rule, moment: datetime) -> int:
        _id = day_counter_id(community_id, member_id, rule.value, self._calendar.day(moment))
        doc = await self._counters.find_one({"_id": _id}, {"points": 1})
        return int(doc["points"]) if doc else 0

    async def stored_totals(self, community_id: str, member_id: str, moment: datetime) -> list[Total]:
        periods = self._calendar.periods(moment)
        ids = [total_id(b, p, member_id) for b in (community_id, GLOBAL) for p in periods.names()]
        found = await self._reads[TOTALS].submit(ids)
        docs = [found[i] for i in ids if i in found]
        return [
            Total(
                doc["community_id"],
                doc["member_id"],
                int(doc["points"]),
                doc.get("period", ALL_TIME),
                int(doc.get("entries", 0)),
            )
            for doc in docs
        ]

    async def totals(self, periods: Collection[str]) -> AsyncIterator[Total]:
        projection = {"_id": 0, "community_id": 1, "member_id": 1, "points": 1, "period": 1}
        async for doc in self._totals.find({"period": {"$in": list(periods)}}, projection).batch_size(10_000):
            yield Total(doc["community_id"], doc["member_id"], int(doc["points"]), doc["period"])

    async def totals_changed_since(self, periods: Collection[str], since: datetime) -> AsyncIterator[Total]:
        """The totals of the given periods written at or after ``since`` (their ``updated``)."""
        query = {"updated": {"$gte": since}, "period": {"$in": list(periods)}}
        async for doc in self._totals.find(query, TOTAL_FIELDS).batch_size(10_000):
            yield Total(
                doc["community_id"],
                doc["member_id"],
                int(doc["points"]),
                doc["period"],
                int(doc.get("entries", 0)),
            )

    async def prune_journal(self, before: datetime) -> int:
        """Forget totals journaled by earlier versions older than ``before``; how many."""
        result = await self._journal_docs.delete_many({"time": {"$lt": before}})
        return result.deleted_count
