"""Owners' badge definitions and the events counted for them.

- ``badge_definitions``: one per definition; its ``_id`` derives from the community, the creator and
  their request id, so repeating a creation returns the same definition.
- ``badge_ticks``: one per (definition, counted event), ``_id`` ``<definition>|<event id>``: a redelivered
  event counts once. Counted per (definition, member, bucket), or per day range for rolling windows.
- ``badge_last_awards``: per (definition, member) of a repeatable rolling window, ``_id``
  ``<definition>|<member>``, the day number of the latest award: its window counts from the day after.
"""

from __future__ import annotations

from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.doclocks import document_lock
from guild_common.keyset import keyset_page
from guild_common.mongo import Document, IndexSpec
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
LAST_AWARDS = "badge_last_awards"
# Most active definitions of one event kind a community can have evaluated per event.
ACTIVE_MAX = 200
INDEXES = [
    IndexSpec(DEFINITIONS, [("community_id", 1), ("create_time", -1)]),
    IndexSpec(DEFINITIONS, [("community_id", 1), ("archived", 1), ("create_time", -1)]),
    IndexSpec(DEFINITIONS, [("community_id", 1), ("event_type", 1), ("archived", 1)]),
    IndexSpec(TICKS, [("definition_id", 1), ("member_id", 1), ("bucket", 1)]),
    IndexSpec(TICKS, [("definition_id", 1), ("member_id", 1), ("day", 1)]),
]


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
        self._last_awards = db[LAST_AWARDS]

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
        async with document_lock(DEFINITIONS, definition_id):
            stored = await self.get(definition_id)
            if stored is None or stored.archived:
                return stored
            archived = stored.archive(at)
            await self._definitions.update_one(
                {"_id": definition_id}, {"$set": {"archived": True, "archive_time": archived.archive_time}}
            )
            return archived

    async def page(
        self, community_id: str, include_archived: bool, page_size: int, page_token: str
    ) -> tuple[list[BadgeDefinition], str]:
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
        return [definition_from(d) for d in docs], token

    async def active(self, community_id: str, event_type: CountedEvent) -> list[BadgeDefinition]:
        cursor = self._definitions.find(
            {"community_id": community_id, "event_type": event_type.value, "archived": False}
        ).limit(ACTIVE_MAX)
        return [definition_from(doc) async for doc in cursor]

    async def tick(self, definition_id: str, event_id: str, member_id: str, count: Count) -> None:
        try:
            await self._ticks.insert_one(
                {
                    "_id": f"{definition_id}|{event_id}",
                    "definition_id": definition_id,
                    "member_id": member_id,
                    "bucket": count.bucket,
                    "day": count.day,
                }
            )
        except DuplicateKeyError:
            pass  # counted before

    async def counted(self, definition_id: str, member_id: str, count: Count) -> int:
        """The member's counted events in the event's bucket, or in its rolling window."""
        match: Document = {"definition_id": definition_id, "member_id": member_id}
        if count.bucket:
            match["bucket"] = count.bucket
        else:
            match["day"] = {"$gte": count.window_start, "$lte": count.day}
        return await self._ticks.count_documents(match)

    async def last_award_day(self, definition_id: str, member_id: str) -> int | None:
        doc = await self._last_awards.find_one({"_id": f"{definition_id}|{member_id}"}, {"day": 1})
        return None if doc is None else int(doc["day"])

    async def awarded_on(self, definition_id: str, member_id: str, day: int) -> None:
        """Keep ``day`` as the day of the member's last award unless a later one is kept."""
        _id = f"{definition_id}|{member_id}"
        async with document_lock(LAST_AWARDS, _id):
            await self._last_awards.update_one(
                {"_id": _id},
                {"$set": {"definition_id": definition_id, "member_id": member_id}, "$max": {"day": day}},
                upsert=True,
            )
