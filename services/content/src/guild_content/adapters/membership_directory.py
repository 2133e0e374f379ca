"""Memberships and communities as content knows them: a read model fed by community events,
read through to the community service when it has not heard of someone yet."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime

import grpc
import structlog
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from guild.community.v1 import community_pb2
from guild.community.v1 import community_service_pb2 as community_api
from guild.community.v1 import community_service_pb2_grpc as community_grpc
from guild_common.atomic import NO_CHANGE, NoChange, update_guarded
from guild_common.clock import utc_now
from guild_common.errors import Unavailable
from guild_common.mongo import Document, IndexSpec, StoreSchema
from guild_content.domain.community import CommunityView, MembershipView, Role

COMMUNITY_VIEWS = "community_views"
MEMBERSHIP_VIEWS = "membership_views"
SCHEMA = StoreSchema(indexes=[IndexSpec(MEMBERSHIP_VIEWS, [("member_id", 1), ("community_id", 1)])])
# The most communities of one member that searches and feeds look in (a bound on what is loaded).
COMMUNITIES_MAX = 1000

_ROLE_FROM_PB = {
    community_pb2.ROLE_MEMBER: Role.MEMBER,
    community_pb2.ROLE_CHAMPION: Role.CHAMPION,
    community_pb2.ROLE_CURATOR: Role.CURATOR,
    community_pb2.ROLE_MODERATOR: Role.MODERATOR,
    community_pb2.ROLE_OWNER: Role.OWNER,
}
_VISIBILITY_FROM_PB = {
    community_pb2.VISIBILITY_OPEN: "open",
    community_pb2.VISIBILITY_REQUEST_TO_JOIN: "request_to_join",
    community_pb2.VISIBILITY_INVITE_ONLY: "invite_only",
    community_pb2.VISIBILITY_HIDDEN: "hidden",
}
_LIFECYCLE_FROM_PB = {
    community_pb2.LIFECYCLE_DRAFT: "draft",
    community_pb2.LIFECYCLE_PILOT: "pilot",
    community_pb2.LIFECYCLE_LIVE: "live",
    community_pb2.LIFECYCLE_ARCHIVED: "archived",
}


_UNREACHABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
log = structlog.get_logger("guild.content.directory")


def _key(community_id: str, member_id: str) -> str:
    return f"{community_id}:{member_id}"


def _reason(error: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(error)
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return str(info.reason)
    return ""


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


class Confirmations:
    """When each membership was last confirmed by the community service, in this process: a cache that
    bounds how often it is asked, not a source of truth (each replica keeps its own)."""

    def __init__(
        self, ttl_seconds: float, *, size: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = ttl_seconds
        self._size = size
        self._clock = clock
        self._at: OrderedDict[tuple[str, str], float] = OrderedDict()

    def fresh(self, key: tuple[str, str]) -> bool:
        at = self._at.get(key)
        return at is not None and self._clock() - at < self._ttl

    def confirm(self, key: tuple[str, str]) -> None:
        self._at[key] = self._clock()
        self._at.move_to_end(key)
        while len(self._at) > self._size:
            self._at.popitem(last=False)


class ReadThroughDirectory:
    """Answers from the read model, confirmed with the community service when its answer is older than
    ``recheck_seconds`` (0: never); on a miss asks the community service and remembers the answer.

    The read model learns of removals and bans by event. While those are delayed (NATS down, a consumer
    behind), the recheck still ends a removed member's access within ``recheck_seconds``. When the
    community service cannot be reached, the read model's answer stands: content stays usable, and a
    removal made meanwhile takes effect when either comes back."""

    def __init__(
        self,
        read_model: MembershipReadModel,
        channel: grpc.aio.Channel,
        *,
        timeout: float = 3.0,
        recheck_seconds: float = 10.0,
    ) -> None:
        self._read_model = read_model
        self._stub = community_grpc.CommunityServiceStub(channel)
        self._timeout = timeout
        self._recheck = recheck_seconds > 0  # 0: the read model alone decides (events only)
        self._confirmed = Confirmations(recheck_seconds)

    async def community(self, community_id: str) -> CommunityView | None:
        known = await self._read_model.community(community_id)
        if known is not None:
            return known
        try:
            response = await self._stub.GetCommunity(
                community_api.GetCommunityRequest(community_id=community_id), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as error:
            return self._absent(error)
        c = response.community
        view = CommunityView(
            id=c.id,
            region=c.region,
            programme=c.programme,
            lifecycle=_LIFECYCLE_FROM_PB.get(c.lifecycle, "live"),
            visibility=_VISIBILITY_FROM_PB.get(c.visibility, "open"),
            flag_threshold=c.settings.auto_hide_flag_threshold,
        )
        await self._read_model.put_community(view, utc_now())
        return view

    async def communities_of(self, member_id: str) -> list[str]:
        """From the read model: the memberships content has heard of or read through."""
        return await self._read_model.communities_of(member_id)

    async def membership(self, community_id: str, member_id: str) -> MembershipView | None:
        key = (community_id, member_id)
        known = await self._read_model.membership(community_id, member_id)
        if known is not None and (not self._recheck or self._confirmed.fresh(key)):
            return known
        try:
            response = await self._stub.GetMembership(
                community_api.GetMembershipRequest(community_id=community_id, member_id=member_id),
                timeout=self._timeout,
            )
        except grpc.aio.AioRpcError as error:
            if known is not None and error.code() in _UNREACHABLE:
                log.warning("membership not confirmed; the local copy stands", community_id=community_id)
                self._confirmed.confirm(key)  # not asked again at once on every call of the outage
                return known
            return self._absent(error)
        self._confirmed.confirm(key)
        if known is not None:
            return known  # confirmed; roles are the read model's, which orders role changes by their time
        view = MembershipView(
            community_id=community_id,
            member_id=member_id,
            role=_ROLE_FROM_PB.get(response.member.role, Role.MEMBER),
        )
        await self._read_model.put_membership(view, utc_now())
        return view

    @staticmethod
    def _absent(error: grpc.aio.AioRpcError) -> None:
        if error.code() == grpc.StatusCode.NOT_FOUND:
            return None
        if error.code() in _UNREACHABLE:
            raise Unavailable("the community service is unavailable", reason="COMMUNITY_SERVICE_UNAVAILABLE")
        raise Unavailable(
            f"membership check failed: {error.code().name} {_reason(error)}".strip(),
            reason="MEMBERSHIP_CHECK_FAILED",
        )
