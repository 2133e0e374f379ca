"""Memberships and communities as content knows them: a read model fed by community events,
read through to the community service when it has not heard of someone yet."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from pymongo.asynchronous.database import AsyncDatabase

from guild.community.v1 import community_pb2
from guild.community.v1 import community_service_pb2 as community_api
from guild.community.v1 import community_service_pb2_grpc as community_grpc
from guild_common.doclocks import document_lock
from guild_common.errors import Unavailable
from guild_common.mongo import Document, IndexSpec
from guild_content.domain.model import CommunityView, MembershipView, Role

COMMUNITY_VIEWS = "community_views"
MEMBERSHIP_VIEWS = "membership_views"
INDEXES = [IndexSpec(MEMBERSHIP_VIEWS, [("member_id", 1), ("community_id", 1)])]

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
    """The local copy; written by event handlers and by read-through."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._communities = db[COMMUNITY_VIEWS]
        self._memberships = db[MEMBERSHIP_VIEWS]

    async def put_community(self, view: CommunityView) -> None:
        async with document_lock(COMMUNITY_VIEWS, view.id):
            await self._communities.update_one(
                {"_id": view.id},
                {
                    "$set": {
                        "region": view.region,
                        "programme": view.programme,
                        "lifecycle": view.lifecycle,
                        "visibility": view.visibility,
                    }
                },
                upsert=True,
            )

    async def put_membership(self, view: MembershipView) -> None:
        async with document_lock(MEMBERSHIP_VIEWS, _key(view.community_id, view.member_id)):
            await self._memberships.update_one(
                {"_id": _key(view.community_id, view.member_id)},
                {
                    "$set": {
                        "community_id": view.community_id,
                        "member_id": view.member_id,
                        "role": view.role.value,
                    }
                },
                upsert=True,
            )

    async def community(self, community_id: str) -> CommunityView | None:
        doc = await self._communities.find_one({"_id": community_id})
        if doc is None:
            return None
        return CommunityView(
            id=doc["_id"],
            region=doc["region"],
            programme=doc["programme"],
            lifecycle=doc["lifecycle"],
            visibility=doc.get("visibility", "open"),
        )

    async def membership(self, community_id: str, member_id: str) -> MembershipView | None:
        doc = await self._memberships.find_one({"_id": _key(community_id, member_id)})
        if doc is None:
            return None
        return MembershipView(community_id=community_id, member_id=member_id, role=Role(doc["role"]))


class ReadThroughDirectory:
    """Answers from the read model; on a miss asks the community service and remembers the answer."""

    def __init__(
        self, read_model: MembershipReadModel, channel: grpc.aio.Channel, *, timeout: float = 3.0
    ) -> None:
        self._read_model = read_model
        self._stub = community_grpc.CommunityServiceStub(channel)
        self._timeout = timeout

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
        )
        await self._read_model.put_community(view)
        return view

    async def membership(self, community_id: str, member_id: str) -> MembershipView | None:
        known = await self._read_model.membership(community_id, member_id)
        if known is not None:
            return known
        try:
            response = await self._stub.GetMembership(
                community_api.GetMembershipRequest(community_id=community_id, member_id=member_id),
                timeout=self._timeout,
            )
        except grpc.aio.AioRpcError as error:
            return self._absent(error)
        view = MembershipView(
            community_id=community_id,
            member_id=member_id,
            role=_ROLE_FROM_PB.get(response.member.role, Role.MEMBER),
        )
        await self._read_model.put_membership(view)
        return view

    @staticmethod
    def _absent(error: grpc.aio.AioRpcError) -> None:
        if error.code() == grpc.StatusCode.NOT_FOUND:
            return None
        if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            raise Unavailable("the community service is unavailable", reason="COMMUNITY_SERVICE_UNAVAILABLE")
        raise Unavailable(
            f"membership check failed: {error.code().name} {_reason(error)}".strip(),
            reason="MEMBERSHIP_CHECK_FAILED",
        )
