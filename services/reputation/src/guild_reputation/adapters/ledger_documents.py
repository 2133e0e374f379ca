"""The ledger's collections, and the counter documents ledger entries count in: where each lives, what
an entry adds, the merged update of a batch, the updates of one entry, the recount from scratch.

Everything derived from the entries is a counter document addressed by ``_id``, so recording an entry
and every lookup the rules make cost the same whatever the ledger's size:

- ``totals``: points and entries per (board, period, member), board a community or ``*`` (global),
  period ``all``, the entry's week or its month; the leaderboards are built from them. ``updated``, the
  latest time one was written, lets a replica starting from a boards snapshot read only those since;
- ``tag_totals``: points per (community, tag, member), serving the members with most points on a tag;
- ``ledger_counters``: points per (community, member, rule, day); and per (community, member, target)
  and (community, member, target, actor) the points and entries under each rule and the tags recorded,
  for reversals, once-only rules and the tags reversals carry; and per (community, member, rule) of
  ``DISTINCT_TARGET_RULES`` the distinct targets, for the mentor badge (counted once per target: the
  target ids themselves are the guard, a set as small as the count).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pymongo import UpdateOne

from guild_common.events.outbox import merge_updates
from guild_common.mongo import Document
from guild_reputation.adapters import seen_writes
from guild_reputation.app.ports import Guard
from guild_reputation.domain.periods import ALL_TIME, GLOBAL
from guild_reputation.domain.rules import Rule

# One document per ledger entry, ``_id`` its natural key.
LEDGER = "ledger"
# Which one-off migrations of the ledger's documents ran (one document each).
META = "ledger_meta"
TOTALS = "totals"
# One per (community, tag, member): points earned by entries about posts with the tag.
TAG_TOTALS = "tag_totals"
# Daily, per-target and per-(target, actor) counters, each addressed by its ``_id`` only.
COUNTERS = "ledger_counters"
# Counter collections whose counters an entry adds the same to (counted by shared statements).
SHARED = frozenset({TOTALS, TAG_TOTALS})
# Rules whose distinct targets per member are counted (in ``ledger_counters``): the mentor badge's.
DISTINCT_TARGET_RULES = frozenset({Rule.ANSWER_ACCEPTED.value})
# What counting reads of a ledger entry.
ENTRY_FIELDS = {
    name: 1
    for name in (
        "community_id",
        "member_id",
        "amount",
        "rule",
        "target_id",
        "actor_id",
        "tags",
        "day",
        "week",
        "month",
        "time",
        "guard",
    )
}


def total_id(community_id: str, period: str, member_id: str) -> str:
    """All-time community totals keep their original ``<community>:<member>`` id."""
    if period == ALL_TIME and community_id != GLOBAL:
        return f"{community_id}:{member_id}"
    return f"{community_id}|{period}|{member_id}"


def tag_total_id(community_id: str, tag: str, member_id: str) -> str:
    return f"{community_id}|{tag}|{member_id}"


def day_counter_id(community_id: str, member_id: str, rule: str, day: str) -> str:
    return f"day|{community_id}|{member_id}|{rule}|{day}"


def targets_counter_id(community_id: str, member_id: str, rule: str) -> str:
    return f"targets|{community_id}|{member_id}|{rule}"


def target_counter_id(community_id: str, member_id: str, target_id: str) -> str:
    return f"target|{community_id}|{member_id}|{target_id}"


def actor_counter_id(community_id: str, member_id: str, target_id: str, actor_id: str) -> str:
    return f"actor|{community_id}|{member_id}|{target_id}|{actor_id}"


@dataclass(frozen=True)
class Counter:
    """One counter an entry counts in: where, what identifies it, what the entry adds."""

    collection: str
    id: str
    fields: Document
    increments: dict[str, int]
    tags: tuple[str, ...] = field(default=())
    # Counted once per value (kept in ``targets``) rather than once per entry (kept in ``applied``).
    once_per: str = ""


def counters_of(entry: Document) -> list[Counter]:
    """The counters a stored ledger entry counts in."""
    community_id, member_id = str(entry["community_id"]), str(entry["member_id"])
    amount, rule = int(entry["amount"]), str(entry["rule"])
    tags = tuple(str(t) for t in entry.get("tags", []))
    adds = {"points": amount, "entries": 1}
    counters = [
        Counter(
            TOTALS,
            total_id(board, period, member_id),
            {"community_id": board, "period": period, "member_id": member_id},
            adds,
        )
        for board in (community_id, GLOBAL)
        for period in (ALL_TIME, str(entry["week"]), str(entry["month"]))
    ]
    counters += [
        Counter(
            TAG_TOTALS,
            tag_total_id(community_id, tag, member_id),
            {"community_id": community_id, "tag": tag, "member_id": member_id},
            adds,
        )
        for tag in dict.fromkeys(tags)
    ]
    day = str(entry["day"])
    counters.append(
        Counter(
            COUNTERS,
            day_counter_id(community_id, member_id, rule, day),
            {"kind": "day", "community_id": community_id, "member_id": member_id, "rule": rule, "day": day},
            adds,
        )
    )
    target_id, actor_id = str(entry.get("target_id", "")), str(entry.get("actor_id", ""))
    if target_id:
        by_rule = {f"rules.{rule}.points": amount, f"rules.{rule}.count": 1, "entries": 1}
        identity = {"community_id": community_id, "member_id": member_id, "target_id": target_id}
        counters.append(
            Counter(
                COUNTERS,
                target_counter_id(community_id, member_id, target_id),
                {"kind": "target", **identity},
                by_rule,
                tags,
            )
        )
        if rule in DISTINCT_TARGET_RULES:
            counters.append(
                Counter(
                    COUNTERS,
                    targets_counter_id(community_id, member_id, rule),
                    {"kind": "targets", "community_id": community_id, "member_id": member_id, "rule": rule},
                    {"count": 1},
                    once_per=target_id,
                )
            )
        if actor_id:
            counters.append(
                Counter(
                    COUNTERS,
                    actor_counter_id(community_id, member_id, target_id, actor_id),
                    {"kind": "actor", **identity, "actor_id": actor_id},
                    by_rule,
                    tags,
                )
            )
    return counters


def tally(entries: Iterable[Document]) -> dict[tuple[str, str], Document]:
    """The counters the entries make, computed from scratch: per (collection, ``_id``), the document
    the fast path keeps, without its bookkeeping (``seen``, ``updated``; tags and targets sorted)."""
    out: dict[tuple[str, str], Document] = {}
    for entry in entries:
        for counter in counters_of(entry):
            doc = out.setdefault((counter.collection, counter.id), {"_id": counter.id, **counter.fields})
            if counter.once_per:
                targets = doc.setdefault("targets", [])
                if counter.once_per not in targets:
                    doc["targets"] = sorted([*targets, counter.once_per])
                    doc["count"] = doc.get("count", 0) + 1
                continue
            for path, value in counter.increments.items():
                *parents, leaf = path.split(".")
                node = doc
                for name in parents:
                    node = node.setdefault(name, {})
                node[leaf] = node.get(leaf, 0) + value
            if counter.tags:
                doc["tags"] = sorted(set(doc.get("tags", [])) | set(counter.tags))
    return out


@dataclass
class Merged:
    """The entries of a batch counted in one counter document, as one update: their increments summed,
    their ids (or, for a ``once_per`` counter, their distinct values) pushed, guarded by "holds none of
    them yet" (and, as one upsert, creating the counter if missing)."""

    counter: Counter
    applied: list[tuple[str, Counter]] = field(default_factory=list)
    increments: dict[str, int] = field(default_factory=dict)
    tags: dict[str, None] = field(default_factory=dict)
    values: dict[str, None] = field(default_factory=dict)

    def add(self, entry_id: str, counter: Counter) -> None:
        if any(entry_id == applied for applied, _ in self.applied):
            return  # the same entry twice counts once
        if counter.once_per and counter.once_per in self.values:
            return  # a value counts once
        self.applied.append((entry_id, counter))
        if counter.once_per:
            self.values[counter.once_per] = None
            return
        for path, value in counter.increments.items():
            self.increments[path] = self.increments.get(path, 0) + value
        self.tags.update(dict.fromkeys(counter.tags))

    def statement(self, now: datetime) -> Document:
        """The ``update`` command statement applying every entry at once."""
        counter = self.counter
        if counter.once_per:
            values = list(self.values)
            return {
                "q": {"_id": counter.id, "targets": {"$nin": values}},
                "u": {
                    "$set": counter.fields,
                    "$inc": {"count": len(values)},
                    "$push": {"targets": {"$each": values}},
                },
                "upsert": True,
            }
        ids = [entry_id for entry_id, _ in self.applied]
        name, hour = seen_writes.slot(now)
        update: Document = {
            "$set": {**counter.fields, seen_writes.hour_field(now): hour},
            "$inc": self.increments,
            "$push": {f"{seen_writes.SEEN}.{name}": {"$each": ids}},
        }
        if self.tags:
            update["$addToSet"] = {"tags": {"$each": list(self.tags)}}
        if counter.collection == TOTALS:
            update["$max"] = {"updated": now}
        return {
            "q": {
                "_id": counter.id,
                **seen_writes.none_of(ids),
                seen_writes.hour_field(now): {"$in": [hour, None]},
            },
            "u": update,
            "upsert": True,
        }

    def signature(self) -> tuple[Any, ...]:
        """What the update of this counter is, apart from its ``_id``: counters of equal signature
        take one ``multi`` statement (a totals counter is not ``once_per``)."""
        ids = tuple(entry_id for entry_id, _ in self.applied)
        return ids, tuple(sorted(self.increments.items())), tuple(self.tags)

    def shared_statement(self, counter_ids: Sequence[str], now: datetime) -> Document:
        """The statement applying this update to every counter of ``counter_ids`` (of equal
        signature, existing), each unless it holds one of the entries or its slot of this hour holds
        an older hour's ids; none can fail (a counter it does not match is left as it is)."""
        ids = [entry_id for entry_id, _ in self.applied]
        name, hour = seen_writes.slot(now)
        update: Document = {
            "$set": {seen_writes.hour_field(now): hour},
            "$inc": self.increments,
            "$push": {f"{seen_writes.SEEN}.{name}": {"$each": ids}},
        }
        if self.tags:
            update["$addToSet"] = {"tags": {"$each": list(self.tags)}}
        if self.counter.collection == TOTALS:
            update["$max"] = {"updated": now}
        where = {"_id": {"$in": list(counter_ids)}, **seen_writes.none_of(ids)}
        return {
            "q": {**where, seen_writes.hour_field(now): {"$in": [hour, None]}},
            "u": update,
            "multi": True,
        }

    def initial(self) -> Document:
        """The counter as created before anything is counted in it: its identity, zero counts."""
        doc: Document = {"_id": self.counter.id, **self.counter.fields}
        for path in self.increments:
            *parents, leaf = path.split(".")
            node = doc
            for name in parents:
                node = node.setdefault(name, {})
            node[leaf] = 0
        return doc


def holds(doc: Document | None, entry_id: str, counter: Counter) -> bool:
    """Whether the stored counter has the entry counted (its value, for a ``once_per`` counter)."""
    if counter.once_per:
        return bool(doc) and counter.once_per in (doc or {}).get("targets", [])
    return seen_writes.holds(doc, entry_id)


def guard_match(guard: Guard) -> Document:
    return {guard.field: {"$exists": False} if guard.value is None else guard.value}


def push(entry_id: str, counter: Counter, now: datetime) -> tuple[Document, Document]:
    """Filter and update applying the entry to the counter unless it holds it."""
    if counter.once_per:
        return (
            {"_id": counter.id, "targets": {"$ne": counter.once_per}},
            {"$set": counter.fields, "$inc": counter.increments, "$push": {"targets": counter.once_per}},
        )
    update = merge_updates(
        {"$set": counter.fields, "$inc": counter.increments}, seen_writes.push(entry_id, now)
    )
    if counter.tags:
        update["$addToSet"] = {"tags": {"$each": list(counter.tags)}}
    if counter.collection == TOTALS:
        update["$max"] = {"updated": now}
    return {"_id": counter.id, **seen_writes.unseen(entry_id)}, update


def updates(entry_id: str, counter: Counter, now: datetime) -> list[UpdateOne]:
    """The updates applying the entry to the counter once, none of which can fail: the counter created
    if missing (an upsert on the ``_id`` alone, which MongoDB retries itself when two race and the
    embedded store serialises), the slot of this hour emptied if it holds an older hour's ids, then the
    entry counted unless held (a counter holding it matches nothing)."""
    create = UpdateOne({"_id": counter.id}, {"$setOnInsert": counter.fields}, upsert=True)
    count = UpdateOne(*push(entry_id, counter, now))
    return (
        [create, count]
        if counter.once_per
        else [create, UpdateOne(*seen_writes.clear(counter.id, now)), count]
    )


def field_at(doc: Mapping[str, Any], path: str) -> Any:
    node: Any = doc
    for name in path.split("."):
        node = node.get(name) if isinstance(node, Mapping) else None
    return node
