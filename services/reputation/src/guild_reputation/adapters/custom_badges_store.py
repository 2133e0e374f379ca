"""Owners' badge definitions and the events counted for them.

- ``badge_definitions``: one per definition; its ``_id`` derives from the community, the creator and
  their request id, so repeating a creation returns the same definition.
- ``badge_ticks``: one per (definition, counted event), ``_id`` ``<definition>|<event key>``: an event
  (or the same natural key again, a vote cast anew) counts once; ``counted`` once its counter has it.
- ``badge_counts``: the counters: per (definition, member, bucket), or per (definition, member, day)
  summed over a rolling window's days; ``$inc`` as events are ticked, never recounted. A crash between
  the tick and its counter is repaired by the redelivery (the tick is not ``counted`` yet), which the
  counter's ``seen`` ids keep from counting twice.
- ``badge_last_awards``: per (definition, member) of a repeatable rolling window, ``_id``
  ``<definition>|<member>``, the day number of the latest award: its window counts from the day after.
  Claimed before awarding, by an update guarded on the day read, so two replicas never award the same
  events twice.
"""

from __future__ import annotations

from datetime import datetime

from pymongo import ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.atomic import upsert_by_id
from guild_common.clock import utc_now
from guild_common.events.outbox import merge_updates
from guild_common.keyset import keyset_page
from guild_common.mongo import Document, IndexSpec, StoreSchema
from guild_common.pagination import Page
from guild_reputation.adapters import seen_writes
from guild_reputation.adapters.batched_writes import Batcher
from guild_reputation.domain.badges import Tier
from guild_reputation.domain.custom_badges import (
    BadgeDefinition,
    Count,
    CountedEvent,
    Template,
    TemplatePeriod,
)

DEFINITIONS = "badge_definitions"
TICKS = "badge_ticks"
COUNTS = "badge_counts"
LAST_AWARDS = "badge_last_awards"
META = "badge_meta"
_COUNTS_MIGRATION = "counts_from_ticks"
# Most active definitions of one event kind a community can have evaluated per event.
ACTIVE_MAX = 200
INDEXES = [
    IndexSpec(DEFINITIONS, [("community_id", 1), ("create_time", -1)]),
    IndexSpec(DEFINITIONS, [("community_id", 1), ("archived", 1), ("create_time", -1)]),
    IndexSpec(DEFINITIONS, [("community_id", 1), ("event_type", 1), ("archived", 1)]),
]
SCHEMA = StoreSchema(indexes=INDEXES)


def count_id(definition_id: str, member_id: str, bucket: str, day: int) -> str:
    """The counter of the bucket, or (rolling windows, no bucket) of the day."""
    return f"{definition_id}|{member_id}|" + (f"b|{bucket}" if bucket else f"d|{day}")


def _doc(d: BadgeDefinition) -> Document:
    t = d.template
    return {
        "_id": d.id,
        "community_id": d.community_id,
        "title": d.title,
        "description": d.description,
        "tier": d.tier.value,
        "event_type": t.event_type.value,
        "threshold": t.threshold,
        "period": t.period.value,
        "rolling_days": t.rolling_days,
        "tag": t.tag,
        "repeatable": d.repeatable,
        "created_by": d.created_by,
        "create_time": d.create_time,
        "archived": d.archived,
        "archive_time": d.archive_time,
    }


def definition_from(doc: Document) -> BadgeDefinition:
    return BadgeDefinition(
        id=str(doc["_id"]),
        community_id=doc["community_id"],
        title=doc["title"],
        description=doc.get("description", ""),
        tier=Tier(doc["tier"]),
        template=Template(
            CountedEvent(doc["event_type"]),
            int(doc["threshold"]),
            TemplatePeriod(doc["period"]),
            int(doc.get("rolling_days", 0)),
            doc.get("tag", ""),
        ),
        repeatable=bool(doc["repeatable"]),
        created_by=doc.get("created_by", ""),
        create_time=doc["create_time"],
        archived=bool(doc.get("archived", False)),
        archive_time=doc.get("archive_time"),
    )


class MongoBadgeDefinitions:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._definitions = db[DEFINITIONS]
        self._ticks = db[TICKS]
        self._counts = db[COUNTS]
        self._last_awards = db[LAST_AWARDS]
        self._meta = db[META]
        # The active definitions asked for by the handlers of a batch of events, in one read.
        self._active: Batcher[tuple[str, CountedEvent], list[BadgeDefinition]] = Batcher(self._active_of)

    async def create(self, definition: BadgeDefinition) -> BadgeDefinition:
        """Store the definition; the one stored before under its id when it exists."""
        try:
            await self._definitions.insert_one(_doc(definition))
        except DuplicateKeyError:
            stored = await self.get(definition.id)
            assert stored is not None
            return stored
        return definition

    async def get(self, definition_id: str) -> BadgeDefinition | None:
        doc = await self._definitions.find_one({"_id": definition_id})
        return None if doc is None else definition_from(doc)

    async def archive(self, definition_id: str, at: datetime) -> BadgeDefinition | None:
        """Archive the definition unless archived already (one guarded update); it as stored after."""
        doc = await self._definitions.find_one_and_update(
            {"_id": definition_id, "archived": False},
            {"$set": {"archived": True, "archive_time": at}},
            return_document=ReturnDocument.AFTER,
        )
        return definition_from(doc) if doc is not None else await self.get(definition_id)

    async def page(
        self, community_id: str, include_archived: bool, page_size: int, page_token: str
    ) -> Page[BadgeDefinition]:
        query: Document = {"community_id": community_id}
        if not include_archived:
            query["archived"] = False
        docs, token = await keyset_page(
            self._definitions,
            query,
            sort_field="create_time",
            descending=True,
            page_size=page_size,
            page_token=page_token,
        )
        return Page([definition_from(d) for d in docs], token)

    async def active(self, community_id: str, event_type: CountedEvent) -> list[BadgeDefinition]:
        return await self._active.submit((community_id, event_type))

    async def _active_of(self, requests: list[tuple[str, CountedEvent]]) -> list[list[BadgeDefinition]]:
        """The active definitions (at most ``ACTIVE_MAX``) of each (community, event type) asked for
        at the same time, in one query."""
        pairs = list(dict.fromkeys((community_id, kind.value) for community_id, kind in requests))
        communities = list(dict.fromkeys(c for c, _ in pairs))
        kinds = list(dict.fromkeys(k for _, k in pairs))
        query: Document = {
            "community_id": communities[0] if len(communities) == 1 else {"$in": communities},
            "event_type": kinds[0] if len(kinds) == 1 else {"$in": kinds},
            "archived": False,
        }
        cursor = self._definitions.find(query)
        if len(pairs) == 1:
            cursor = cursor.limit(ACTIVE_MAX)
        found: dict[tuple[str, str], list[BadgeDefinition]] = {pair: [] for pair in pairs}
        async for doc in cursor:
            kept = found.get((str(doc["community_id"]), str(doc["event_type"])))
            if kept is not None and len(kept) < ACTIVE_MAX:
                kept.append(definition_from(doc))
        return [list(found[(community_id, kind.value)]) for community_id, kind in requests]

    async def tick(self, definition_id: str, event_id: str, member_id: str, count: Count) -> None:
        """Count the event under its natural key once: the tick records the key for good, the counter
        of its bucket (or day) is incremented, then the tick is marked ``counted``."""
        _id = f"{definition_id}|{event_id}"
        try:
            await self._ticks.insert_one(
                {
                    "_id": _id,
                    "definition_id": definition_id,
                    "member_id": member_id,
                    "bucket": count.bucket,
                    "day": count.day,
                    "counted": False,
                }
            )
        except DuplicateKeyError:
            tick = await self._ticks.find_one({"_id": _id}, {"counted": 1})
            if tick is None or tick.get("counted", True):
                return  # counted before (ticks of earlier versions are counted by the migration)
        await self._count(_id, definition_id, member_id, count.bucket, count.day)
        await self._ticks.update_one({"_id": _id}, {"$set": {"counted": True}})

    async def _count(self, tick_id: str, definition_id: str, member_id: str, bucket: str, day: int) -> None:
        """Increment the tick's counter unless it holds the tick (a replay after a crash)."""
        counter_id, now = count_id(definition_id, member_id, bucket, day), utc_now()
        fields = {"definition_id": definition_id, "member_id": member_id, "bucket": bucket, "day": day}
        await self._counts.bulk_write(
            [
                UpdateOne({"_id": counter_id}, {"$setOnInsert": fields}, upsert=True),
                UpdateOne(*seen_writes.clear(counter_id, now)),
                UpdateOne(
                    {"_id": counter_id, **seen_writes.unseen(tick_id)},
                    merge_updates({"$inc": {"n": 1}}, seen_writes.push(tick_id, now)),
                ),
            ]
        )

    async def counted(self, definition_id: str, member_id: str, count: Count) -> int:
        """The member's counted events in the event's bucket, or in its rolling window (one counter
        per day of it, read together)."""
        if count.bucket:
            ids = [count_id(definition_id, member_id, count.bucket, count.day)]
        else:
            days = range(count.window_start, count.day + 1)
            ids = [count_id(definition_id, member_id, "", day) for day in days]
        return sum([int(doc.get("n", 0)) async for doc in self._counts.find({"_id": {"$in": ids}}, {"n": 1})])

    async def last_award_day(self, definition_id: str, member_id: str) -> int | None:
        doc = await self._last_awards.find_one({"_id": f"{definition_id}|{member_id}"}, {"day": 1})
        return None if doc is None else int(doc["day"])

    async def awarded_on(self, definition_id: str, member_id: str, day: int) -> None:
        """Keep ``day`` as the day of the member's last award unless a later one is kept (``$max``)."""
        await upsert_by_id(
            self._last_awards,
            f"{definition_id}|{member_id}",
            {"$set": {"definition_id": definition_id, "member_id": member_id}, "$max": {"day": day}},
        )

    async def claim_award_day(self, definition_id: str, member_id: str, read: int | None, day: int) -> bool:
        """Move the day of the member's last award from ``read`` (None: none kept) to ``day``; False when
        another award moved it first."""
        _id = f"{definition_id}|{member_id}"
        if read is not None:
            result = await self._last_awards.update_one({"_id": _id, "day": read}, {"$set": {"day": day}})
            return bool(result.modified_count)
        try:
            await self._last_awards.update_one(
                {"_id": _id, "day": {"$exists": False}},
                {"$set": {"definition_id": definition_id, "member_id": member_id, "day": day}},
                upsert=True,
            )
        except DuplicateKeyError:
            return False
        return True

    async def migrate_counts(self) -> int:
        """Count the ticks stored before the counters existed (they have no ``counted``), once per
        database; idempotent per tick, so safe beside live counting. How many ticks."""
        if await self._meta.find_one({"_id": _COUNTS_MIGRATION}) is not None:
            return 0
        counted = 0
        async for tick in self._ticks.find({"counted": {"$exists": False}}).batch_size(10_000):
            definition_id, member_id = str(tick["definition_id"]), str(tick["member_id"])
            await self._count(
                str(tick["_id"]), definition_id, member_id, tick.get("bucket", ""), int(tick["day"])
            )
            await self._ticks.update_one({"_id": tick["_id"]}, {"$set": {"counted": True}})
            counted += 1
        try:
            await self._meta.insert_one({"_id": _COUNTS_MIGRATION})
        except DuplicateKeyError:
            pass  # another replica finished it too
        return counted
