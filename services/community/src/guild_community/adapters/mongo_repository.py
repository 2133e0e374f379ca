"""Communities and memberships in MongoDB."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.doclocks import document_lock
from guild_common.errors import AlreadyExists
from guild_common.events.outbox import outbox_fields, outbox_indexes
from guild_common.keyset import keyset_page
from guild_common.mongo import Document, IndexSpec
from guild_community.adapters.events import to_envelope
from guild_community.app.ports import MemberPage
from guild_community.domain.model import (
    Community,
    DomainEvent,
    Lifecycle,
    MemberJoined,
    Membership,
    Role,
    Visibility,
    membership_key,
)

COMMUNITIES = "communities"
MEMBERSHIPS = "memberships"

INDEXES = [
    IndexSpec(COMMUNITIES, [("slug", 1)], unique=True),
    IndexSpec(MEMBERSHIPS, [("community_id", 1), ("join_time", 1), ("_id", 1)]),
    IndexSpec(MEMBERSHIPS, [("community_id", 1), ("role", 1), ("join_time", 1), ("_id", 1)]),
    IndexSpec(MEMBERSHIPS, [("member_id", 1), ("join_time", 1)]),
    *outbox_indexes([COMMUNITIES, MEMBERSHIPS]),
]
OUTBOX_COLLECTIONS = [COMMUNITIES, MEMBERSHIPS]


def _community_doc(c: Community) -> Document:
    return {
        "_id": c.id,
        "slug": c.slug,
        "name": c.name,
        "description": c.description,
        "programme": c.programme,
        "region": c.region,
        "visibility": c.visibility.value,
        "lifecycle": c.lifecycle.value,
        "created_by": c.created_by,
        "create_time": c.create_time,
        "member_count": c.member_count,
        "version": c.version,
    }


def _community(doc: Document) -> Community:
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
        version=doc.get("version", 1),
    )


def _membership_doc(m: Membership) -> Document:
    return {
        "_id": m.key,
        "community_id": m.community_id,
        "member_id": m.member_id,
        "role": m.role.value,
        "join_time": m.join_time,
    }


def _membership(doc: Document) -> Membership:
    return Membership(
        community_id=doc["community_id"],
        member_id=doc["member_id"],
        role=Role(doc["role"]),
        join_time=doc["join_time"],
    )


class MongoCommunityRepository:
    """Each write is one single-document operation carrying its own outbox events."""

    def __init__(self, db: AsyncDatabase[Document], on_events: Callable[[], None]) -> None:
        self._communities = db[COMMUNITIES]
        self._memberships = db[MEMBERSHIPS]
        self._on_events = on_events

    async def add_community(self, community: Community, owner: Membership) -> Community:
        # The owner's membership goes first: a retry after a crash in between completes the pair,
        # and a membership without its community is never visible (every read checks the community).
        try:
            await self._memberships.insert_one(_membership_doc(owner))
        except DuplicateKeyError:
            pass
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
        self._on_events()
        return community

    async def get_community(self, community_id: str) -> Community | None:
        doc = await self._communities.find_one({"_id": community_id}, {"outbox": 0})
        return _community(doc) if doc else None

    async def get_membership(self, community_id: str, member_id: str) -> Membership | None:
        doc = await self._memberships.find_one({"_id": membership_key(community_id, member_id)})
        return _membership(doc) if doc else None

    async def add_membership(self, membership: Membership, events: list[DomainEvent]) -> bool:
        own = [e for e in events if isinstance(e, MemberJoined) and e.membership.key == membership.key]
        envelopes = [to_envelope(e) for e in own]
        try:
            await self._memberships.insert_one({**_membership_doc(membership), **outbox_fields(envelopes)})
        except DuplicateKeyError:
            return False
        async with document_lock(COMMUNITIES, membership.community_id):
            await self._communities.update_one(
                {"_id": membership.community_id}, {"$inc": {"member_count": 1, "version": 1}}
            )
        self._on_events()
        return True

    async def list_members(
        self, community_id: str, role: Role | None, page_size: int, page_token: str
    ) -> MemberPage:
        query: dict[str, Any] = {"community_id": community_id}
        if role is not None:
            query["role"] = role.value
        docs, next_token = await keyset_page(
            self._memberships,
            query,
            sort_field="join_time",
            descending=False,
            page_size=page_size,
            page_token=page_token,
            projection={"outbox": 0},
        )
        return MemberPage([_membership(d) for d in docs], next_token)
