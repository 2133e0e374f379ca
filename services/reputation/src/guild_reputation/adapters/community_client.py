"""Calls to the community service: a membership's role when the local read model has not heard of it."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc

from guild.community.v1 import community_pb2
from guild.community.v1 import community_service_pb2 as community_api
from guild.community.v1 import community_service_pb2_grpc as community_grpc
from guild_common.errors import Unavailable
from guild_reputation.adapters.roles_store import RoleReadModel

_ROLE_FROM_PB = {
    community_pb2.ROLE_MEMBER: "member",
    community_pb2.ROLE_CHAMPION: "champion",
    community_pb2.ROLE_CURATOR: "curator",
    community_pb2.ROLE_MODERATOR: "moderator",
    community_pb2.ROLE_OWNER: "owner",
}


class ReadThroughRoles:
    """Answers from the read model; on a miss asks the community service and remembers the answer."""

    def __init__(self, read_model: RoleReadModel, channel: grpc.aio.Channel, *, timeout: float = 3.0) -> None:
        self._read_model = read_model
        self._stub = community_grpc.CommunityServiceStub(channel)
        self._timeout = timeout

    async def role(self, community_id: str, member_id: str) -> str | None:
        known = await self._read_model.get(community_id, member_id)
        if known is not None:
            return known or None
        try:
            response = await self._stub.GetMembership(
                community_api.GetMembershipRequest(community_id=community_id, member_id=member_id),
                timeout=self._timeout,
            )
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED):
                return None
            raise Unavailable(
                f"the community service could not say: {error.code().name}",
                reason="COMMUNITY_SERVICE_UNAVAILABLE",
            ) from error
        role = _ROLE_FROM_PB.get(response.member.role, "member")
        # Stored as of the epoch: any event about this membership is newer and wins.
        await self._read_model.put(
            community_id,
            member_id,
            role,
            datetime.fromtimestamp(0, tz=UTC),
            region=response.region,
            programme=response.programme,
        )
        return role

    async def routing(self, community_id: str, member_id: str) -> tuple[str, str]:
        return await self._read_model.routing(community_id, member_id)
