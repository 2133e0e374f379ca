"""Memberships and communities as content knows them: a read model fed by community events and by
reads through to the community service (``adapters.community_client``)."""

from __future__ import annotations

from datetime import datetime

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from guild_common.atomic import NO_CHANGE, NoChange, update_guarded
from guild_common.mongo import Document, IndexSpec, StoreSchema
from guild_content.domain.community import CommunityView, MembershipView, Role

COMMUNITY_VIEWS = "community_views"
MEMBERSHIP_VIEWS = "membership_views"
SCHEMA = StoreSchema(indexes=[IndexSpec(MEMBERSHIP_VIEWS, [("member_id", 1), ("community_id", 1)])])
# The most communities of one member that searches and feeds look in (a bound on what is loaded).
COMMUNITIES_MAX = 1000


def _key(community_id: str, member_id: str) -> str:
    return f"{community_id}:{member_id}"


class MembershipReadModel:
    """The local copy; written by event handlers and by read-through.

    Events of one community or membership may arrive late or twice, so each fact keeps the time it is
    true as of (``lifecycle_time``, ``role_time``, ``join_time``, ``left_time``) and an older fact never
    overwrites a newer one. Every write decides from the stored document and is written guarded by the
    version it read (:func:`guild_common.atomic.update_guarded`), so concurrent facts are all weighed.
    """

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._communities = db[COMMUNITY_VIEWS]
        self._memberships = db[MEMBERSHIP_VIEWS]

    async def put_community(self, view: CommunityView, as_of: datetime) -> None:
        def build(doc: Document | None) -> Document:
            fields: Document = {"region": view.region, "programme": view.programme}
            if doc is None or _older(doc.get("lifecycle_time"), as_of):
                fields |= {"lifecycle": view.lifecycle, "lifecycle_time": as_of}
            if doc is None or _older(doc.get("settings_time"), as_of):
                fields |= {"visibility": view.visibility, "settings_time": as_of}
                if view.flag_threshold:
                    fields["flag_threshold"] = view.flag_threshold
            return {"$set": fields}

        await update_guarded(self._communities, view.id, build)

    async def update_settings(
        self, community_id: str, visibility: str, flag_threshold: int, as_of: datetime
    ) -> None:
        """Record a community's visibility and flag threshold as of ``as_of``; an older update is ignored.

        A community not known yet keeps only these; the rest is read through when first needed.
        """

        def build(doc: Document | None) -> Document | NoChange:
            if doc is not None and not _older(doc.get("settings_time"), as_of):
                return NO_CHANGE
            fields: Document = {"settings_time": as_of}
            if visibility:
                fields["visibility"] = visibility
            if flag_threshold > 0:
                fields["flag_threshold"] = flag_threshold
            return {"$set": fields}

        await update_guarded(self._communities, community_id, build)

    async def set_lifecycle(self, community_id: str, lifecycle: str, as_of: datetime) -> None:
        """Record a lifecycle change; a community not known yet is read through when first needed."""
        # One conditional write: the filter is the rule (known, and the stored lifecycle is older). It
        # moves the version, so that a guarded write built from the state before it is built again.
        older = [{"lifecycle_time": {"$lt": _ms(as_of)}}, {"lifecycle_time": {"$exists": False}}]
        await self._communities.update_one(
            {"_id": community_id, "$or": older},
            {"$set": {"lifecycle": lifecycle, "lifecycle_time": as_of}, "$inc": {"version": 1}},
        )

    async def put_membership(self, view: MembershipView, as_of: datetime) -> None:
        """The member belongs with ``view.role`` as of ``as_of`` (joined, or read through)."""

        def build(doc: Document | None) -> Document | NoChange:
            if doc is not None and not _older(doc.get("left_time"), as_of):
                return NO_CHANGE  # they left after this; a stale join
            fields: Document = {
                "community_id": view.community_id,
                "member_id": view.member_id,
                "active": True,
                "join_time": as_of,
            }
            if doc is None or _older(doc.get("role_time"), as_of):
                fields |= {"role": view.role.value, "role_time": as_of}
            return {"$set": fields}

        await update_guarded(self._memberships, _key(view.community_id, view.member_id), build)

    async def remove_membership(self, community_id: str, member_id: str, as_of: datetime) -> None:
        """The member left (or was removed) at ``as_of``; kept as a marker so a stale join cannot revive
        the membership."""

        def build(doc: Document | None) -> Document | NoChange:
            if doc is not None and not _older(doc.get("join_time"), as_of):
                return NO_CHANGE  # they joined again after this; a stale leave
            fields: Document = {
                "community_id": community_id,
                "member_id": member_id,
                "active": False,
                "left_time": as_of,
            }
            if doc is None or "role" not in doc:
                fields["role"] = Role.MEMBER.value
            return {"$set": fields}

        await update_guarded(self._memberships, _key(community_id, member_id), build)

    async def set_role(self, community_id: str, member_id: str, role: Role, as_of: datetime) -> None:
        """The member's role changed at ``as_of``; an older change is ignored."""

        def build(doc: Document | None) -> Document | NoChange:
            if doc is not None and not _older(doc.get("role_time"), as_of):
                return NO_CHANGE
            fields: Document = {
                "community_id": community_id,
                "member_id": member_id,
                "role": role.value,
                "role_time": as_of,
            }
            if doc is None:
                fields["active"] = True  # roles are granted to members
            return {"$set": fields}

        await update_guarded(self._memberships, _key(community_id, member_id), build)

    async def community(self, community_id: str) -> CommunityView | None:
        doc = await self._communities.find_one({"_id": community_id})
        if doc is None or "region" not in doc or "lifecycle" not in doc:
            return None
        return CommunityView(
            id=doc["_id"],
            region=doc["region"],
            programme=doc["programme"],
            lifecycle=doc["lifecycle"],
            visibility=doc.get("visibility", "open"),
            flag_threshold=int(doc.get("flag_threshold", 0)),
        )

    async def communities_of(self, member_id: str) -> list[str]:
        return await _communities_of(self._memberships, member_id)

    async def membership(self, community_id: str, member_id: str) -> MembershipView | None:
        """The current membership; None when unknown or left (the caller then asks the community service)."""
        doc = await self._memberships.find_one({"_id": _key(community_id, member_id)})
        if doc is None or not doc.get("active", True):
            return None
        return MembershipView(community_id=community_id, member_id=member_id, role=Role(doc["role"]))


async def _communities_of(memberships: AsyncCollection[Document], member_id: str) -> list[str]:
    """The member's communities, at most ``COMMUNITIES_MAX`` (by id), on ``(member_id, community_id)``."""
    cursor = (
        memberships.find({"member_id": member_id, "active": {"$ne": False}}, {"community_id": 1})
        .sort([("member_id", 1), ("community_id", 1)])
        .limit(COMMUNITIES_MAX)
    )
    return [str(d["community_id"]) async for d in cursor]


def _ms(as_of: datetime) -> datetime:
    """``as_of`` as stored: to the millisecond."""
    return as_of.replace(microsecond=as_of.microsecond // 1000 * 1000)


def _ABSENT(field: str) -> Document:
    return {field: {"$exists": False}}


def _older(stored: datetime | None, as_of: datetime) -> bool:
    """True when a fact recorded as of ``stored`` is older than one as of ``as_of`` (or none is recorded)."""
    if stored is None:
        return True
    return stored < as_of.replace(microsecond=as_of.microsecond // 1000 * 1000)
