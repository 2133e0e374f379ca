"""The community service as content asks it: memberships and communities read through to it when the
read model has not heard of them, or has not had them confirmed lately."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

import grpc
import structlog
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from guild.community.v1 import community_pb2
from guild.community.v1 import community_service_pb2 as community_api
from guild.community.v1 import community_service_pb2_grpc as community_grpc
from guild_common.clock import utc_now
from guild_common.errors import Unavailable
from guild_content.adapters.membership_store import MembershipReadModel
from guild_content.domain.community import CommunityView, MembershipView, Role

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


def _reason(error: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(error)
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return str(info.reason)
    return ""


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
