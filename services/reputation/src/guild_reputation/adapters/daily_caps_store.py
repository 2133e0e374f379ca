"""Daily caps as atomic counters: one document per (community, member, rule, day).

``points`` is what the member has been granted by the rule that day; ``grants`` maps a short hash of each
granting entry's id to what it was granted, so granting is once per entry (a redelivered event gets the
amount it got the first time, even when its ledger entry was never written) and a grant can be given back.

The common case is one conditional upsert, ``{_id, points: {$lte: cap - points}, grants.<k>: absent}``
→ ``$inc``: it matches while the whole gain fits. When it does not (the cap is near or reached, or the
entry was granted already) the upsert's insert fails on the ``_id`` and the crossing gain is cut to the
room left by an update guarded on the ``points`` read, retried if another grant came in between.
"""

from __future__ import annotations

import hashlib

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from guild_common.atomic import ConcurrentChange
from guild_common.mongo import Document
from guild_reputation.domain.periods import Calendar
from guild_reputation.domain.rules import LedgerEntry, RuleSetting, capped_amount

DAILY_CAPS = "daily_caps"
ATTEMPTS = 16


def cap_id(entry: LedgerEntry, calendar: Calendar) -> str:
    return f"{entry.community_id}|{entry.member_id}|{entry.rule.value}|{calendar.day(entry.time)}"


def grant_key(entry_id: str) -> str:
    """A field name for the entry (ids may hold characters field names may not)."""
    return "grants." + hashlib.sha256(entry_id.encode()).hexdigest()[:24]


class DailyCaps:
    def __init__(self, caps: AsyncCollection[Document], calendar: Calendar) -> None:
        self._caps = caps
        self._calendar = calendar

    async def reserve(self, entry: LedgerEntry, cap: int) -> int:
        """What the entry may earn under ``cap``, taken from the day's room once per entry."""
        _id, key, points = cap_id(entry, self._calendar), grant_key(entry.id), entry.amount
        if points <= cap:
            try:
                await self._caps.update_one(
                    {"_id": _id, "points": {"$lte": cap - points}, key: {"$exists": False}},
                    {"$inc": {"points": points}, "$set": {key: points}},
                    upsert=True,
                )
                return points
            except DuplicateKeyError:
                pass  # the gain does not fit whole, or the entry was granted before
        for _ in range(ATTEMPTS):
            doc = await self._caps.find_one({"_id": _id})
            granted = _granted(doc, key)
            if granted is not None:
                return granted
            earned = int(doc["points"]) if doc else 0
            amount, _ = capped_amount(RuleSetting(points, cap), earned)
            guard: Document = {"points": earned} if doc else {"points": {"$exists": False}}
            try:
                result = await self._caps.update_one(
                    {"_id": _id, **guard, key: {"$exists": False}},
                    {"$inc": {"points": amount}, "$set": {key: amount}},
                    upsert=doc is None,
                )
            except DuplicateKeyError:
                continue  # created meanwhile
            if result.modified_count or result.upserted_id is not None:
                return amount
        raise ConcurrentChange(f"daily cap {_id[:64]} changed on each of {ATTEMPTS} attempts")

    async def release(self, entry: LedgerEntry) -> None:
        """Give back the entry's grant (its entry was not recorded after all)."""
        _id, key = cap_id(entry, self._calendar), grant_key(entry.id)
        for _ in range(ATTEMPTS):
            doc = await self._caps.find_one({"_id": _id}, {key: 1})
            granted = _granted(doc, key)
            if granted is None:
                return
            result = await self._caps.update_one(
                {"_id": _id, key: granted}, {"$inc": {"points": -granted}, "$unset": {key: ""}}
            )
            if result.modified_count:
                return


def _granted(doc: Document | None, key: str) -> int | None:
    node: object = doc
    for name in key.split("."):
        node = node.get(name) if isinstance(node, dict) else None
    return int(node) if isinstance(node, int) else None
