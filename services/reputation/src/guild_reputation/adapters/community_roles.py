"""Community roles as reputation knows them: a read model fed by community events, read through to the
community service when it has not heard of someone yet."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild.community.v1 import community_pb2
from guild.community.v1 import community_service_pb2 as community_api
from guild.community.v1 import community_service_pb2_grpc as community_grpc
from guild_common.errors import Unavailable
from guild_common.mongo import Document, IndexSpec, StoreSchema

ROLES = "community_roles"
INDEXES = [IndexSpec(ROLES, [("member_id", 1), ("community_id", 1)])]
SCHEMA = StoreSchema(indexes=INDEXES)
# The role stored for someone who left: known, and not a member.
NONE = ""

_ROLE_FROM_PB = {
    community_pb2.ROLE_MEMBER: "member",
    community_pb2.ROLE_CHAMPION: "champion",
    community_pb2.ROLE_CURATOR: "curator",
    community_pb2.ROLE_MODERATOR: "moderator",
    community_pb2.ROLE_OWNER: "owner",
}


def _key(community_id: str, member_id: str) -> str:
    return f"{community_id}:{member_id}"


class RoleReadModel:
    """One document per (community, member); a change applies only if newer than the one stored."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._roles = db[ROLES]

    async def put(
        self,
        community_id: str,
        member_id: str,
        role: str,
        as_of: datetime,
        *,
        region: str = "",
        programme: str = "",
    ) -> None:
        _id = _key(community_id, member_id)
        routing = {"region": region, "programme": programme} if region and programme else {}
        try:  # one conditional upsert: an older change never overwrites a newer one
            await self._roles.update_one(
                {"_id": _id, "as_of": {"$lt": as_of}},
                {
                    "$set": {
                        "community_id": community_id,
                        "member_id": member_id,
                        "role": role,
                        "as_of": as_of,
                        **routing,
                    }
                },
                upsert=True,
            )
        except DuplicateKeyError:
            pass  # a newer change is stored already

    async def get(self, community_id: str, member_id: str) -> str | None:
        """The stored role, ``NONE`` for a former member, or None when never heard of."""
        doc = await self._roles.find_one({"_id": _key(community_id, member_id)}, {"role": 1})
        return None if doc is None else str(doc["role"])

    async def routing(self, community_id: str, member_id: str) -> tuple[str, str]:
        """The community's region and programme as last heard with this membership."""
        doc = await self._roles.find_one(
            {"_id": _key(community_id, member_id)}, {"region": 1, "programme": 1}
        )
        if doc is None or not doc.get("region"):
            return ("unknown", "unknown")
        return (str(doc["region"]), str(doc["programme"]))


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
