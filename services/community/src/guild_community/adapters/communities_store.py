"""Communities in MongoDB, with their memberships (``membership_store``) behind one repository."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.atomic import NO_CHANGE, NoChange, update_guarded
from guild_common.errors import AlreadyExists, NotFound
from guild_common.events.outbox import (
    OutboxWake,
    merge_updates,
    outbox_fields,
    outbox_indexes,
    outbox_update,
)
from guild_common.keyset import keyset_items
from guild_common.mongo import Document, IndexSpec, StoreSchema
from guild_common.pagination import Page
from guild_community.adapters.membership_store import (
    MongoMembershipStore,
    membership_doc,
)
from guild_community.adapters.outbound_events import to_envelope
from guild_community.adapters.seat_writes import Seats
from guild_community.app.ports import (
    CommunityFilter,
)
from guild_community.domain.communities import (
    Community,
    Lifecycle,
    Visibility,
    name_key,
    prefix_key,
)
from guild_community.domain.membership import (
    Membership,
    Role,
)

COMMUNITIES = "communities"

SCHEMA = StoreSchema(
    indexes=[
        IndexSpec(COMMUNITIES, [("slug", 1)], unique=True),
        IndexSpec(COMMUNITIES, [("name_key", 1), ("_id", 1)]),
        IndexSpec(COMMUNITIES, [("programme", 1), ("name_key", 1), ("_id", 1)]),
        IndexSpec(COMMUNITIES, [("region", 1), ("name_key", 1), ("_id", 1)]),
        IndexSpec(COMMUNITIES, [("lifecycle", 1), ("name_key", 1), ("_id", 1)]),
        IndexSpec(COMMUNITIES, [("visibility", 1), ("name_key", 1), ("_id", 1)]),
        *outbox_indexes([COMMUNITIES]),
    ],
    outbox_collections=[COMMUNITIES],
)
# Most communities a "mine" listing considers.
MINE_LIMIT = 2000


def _community_doc(c: Community) -> Document:
    return {
        "_id": c.id,
        "slug": c.slug,
        "programme": c.programme,
        "region": c.region,
        "created_by": c.created_by,
        "create_time": c.create_time,
        "member_count": c.member_count,
        # Owners counted as roles change: the last one cannot go (see ``adapters.seats``).
        "owner_count": 1,
        **_mutable_fields(c),
        "version": c.version,
    }


def _mutable_fields(c: Community) -> Document:
    return {
        "name": c.name,
        "name_key": name_key(c.name),
        "description": c.description,
        "visibility": c.visibility.value,
        "lifecycle": c.lifecycle.value,
        "settings": {"auto_hide_flag_threshold": c.auto_hide_flag_threshold, "pilot_cap": c.pilot_cap},
    }


def _community(doc: Document) -> Community:
    settings = doc.get("settings") or {}
    return Community(
        id=doc["_id"],
        slug=doc["slug"],
        name=doc["name"],
        description=doc.get("description", ""),
        programme=doc["programme"],
        region=doc["region"],
        visibility=Visibility(doc["visibility"]),
        lifecycle=Lifecycle(doc["lifecycle"]),
        created_by=doc["created_by"],
        create_time=doc["create_time"],
        member_count=doc.get("member_count", 0),
        auto_hide_flag_threshold=settings.get("auto_hide_flag_threshold", 3),
        pilot_cap=settings.get("pilot_cap", 0),
        version=doc.get("version", 1),
    )


class MongoCommunityRepository(MongoMembershipStore):
    """Each write is one single-document operation carrying its own outbox events."""

    def __init__(self, db: AsyncDatabase[Document], on_events: OutboxWake) -> None:
        self._communities = db[COMMUNITIES]
        super().__init__(db, on_events, Seats(self._communities))

    async def backfill(self) -> None:
        """Bring communities stored by earlier versions up to date: their name key, their owner count
        and, before rosters, their roster. Each step is guarded, so replicas starting together agree."""
        async for doc in self._communities.find({}, {"name": 1, "name_key": 1, "owner_count": 1}):
            if "name_key" not in doc:
                await self._communities.update_one(
                    {"_id": doc["_id"], "name_key": {"$exists": False}},
                    {"$set": {"name_key": name_key(doc["name"])}},
                )
            if "owner_count" not in doc:
                owners = await self.count_role(doc["_id"], Role.OWNER)
                await self._communities.update_one(
                    {"_id": doc["_id"], "owner_count": {"$exists": False}}, {"$set": {"owner_count": owners}}
                )
            if not await self._roster.has_head(doc["_id"]):
                await self._backfill_roster(doc["_id"])

    async def update_community(self, community_id: str, change: Callable[[Community], None]) -> Community:
        changed: list[Community] = []

        def build(doc: Document | None) -> Document | NoChange:
            if doc is None:
                raise NotFound(f"community {community_id} not found", reason="COMMUNITY_NOT_FOUND")
            community = _community(doc)
            change(community)
            changed[:] = [community]
            if not community.events:
                return NO_CHANGE
            envelopes = [to_envelope(e) for e in community.events]
            return merge_updates({"$set": _mutable_fields(community)}, outbox_update(envelopes))

        after = await update_guarded(self._communities, community_id, build)
        assert after is not None
        community = _community(after)
        if changed[0].events:
            self._on_events(COMMUNITIES, community_id)
        return community

    async def list_communities(
        self, where: CommunityFilter, page_size: int, page_token: str
    ) -> Page[Community]:
        query: dict[str, Any] = {}
        if where.programme:
            query["programme"] = where.programme
        if where.region:
            query["region"] = where.region
        if where.lifecycle is not None:
            query["lifecycle"] = where.lifecycle.value
        if where.member_id:
            ids = [
                d["community_id"]
                async for d in self._memberships.find(
                    {"member_id": where.member_id}, {"community_id": 1}
                ).limit(MINE_LIMIT)
            ]
            query["_id"] = {"$in": ids}
            if where.visibility is not None:
                query["visibility"] = where.visibility.value
        elif where.visibility is None:
            query["visibility"] = {"$ne": Visibility.HIDDEN.value}
        elif where.visibility == Visibility.HIDDEN:
            return Page([], "")
        else:
            query["visibility"] = where.visibility.value
        if where.name_prefix:
            prefix = prefix_key(where.name_prefix)
            query["name_key"] = {"$gte": prefix, "$lt": prefix + "\U0010ffff"}
        return await keyset_items(
            self._communities,
            query,
            sort_field="name_key",
            descending=False,
            page_size=page_size,
            page_token=page_token,
            projection={"outbox": 0},
            convert=_community,
        )

    async def add_community(self, community: Community, owner: Membership) -> Community:
        # The owner's membership goes first: a retry after a crash in between completes the pair,
        # and a membership without its community is never visible (every read checks the community).
        try:
            await self._memberships.insert_one(membership_doc(owner))
        except DuplicateKeyError:
            pass
        else:
            [position] = await self._roster.append(community.id, [owner])
            await self._place(owner, position)
        envelopes = [to_envelope(e) for e in community.events]
        try:
            await self._communities.insert_one({**_community_doc(community), **outbox_fields(envelopes)})
        except DuplicateKeyError as exc:
            existing = await self.get_community(community.id)
            if existing is not None and existing.created_by == community.created_by:
                return existing
            if existing is None:
                await self._memberships.delete_one({"_id": owner.key, "community_id": community.id})
            raise AlreadyExists(
                f"slug {community.slug!r} is taken", reason="SLUG_TAKEN", metadata={"slug": community.slug}
            ) from exc
        community.events.clear()
        self._on_events(COMMUNITIES, community.id)
        return community

    async def get_community(self, community_id: str) -> Community | None:
        doc = await self._communities.find_one({"_id": community_id}, {"outbox": 0})
        return _community(doc) if doc else None
