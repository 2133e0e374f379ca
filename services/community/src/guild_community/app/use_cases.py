"""Community use cases: each method is one command or query."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from guild_common.auth import Principal
from guild_common.clock import utc_now
from guild_common.errors import NotFound, Validator
from guild_common.ids import id_for_request, new_id
from guild_common.pagination import clamp_page_size
from guild_community.app.ports import CommunityRepository, MemberPage
from guild_community.domain.model import Community, Membership, Role, Visibility


@dataclass(frozen=True)
class NewCommunity:
    name: str
    slug: str
    description: str
    programme: str
    region: str
    visibility: Visibility
    request_id: str


class CommunityUseCases:
    def __init__(
        self,
        repository: CommunityRepository,
        *,
        regions: list[str],
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._repo = repository
        self._regions = regions
        self._clock = clock

    async def create_community(self, caller: Principal, new: NewCommunity) -> Community:
        community_id = (
            id_for_request("community", caller.subject, new.request_id) if new.request_id else new_id()
        )
        community, owner = Community.create(
            id=community_id,
            slug=new.slug,
            name=new.name,
            description=new.description,
            programme=new.programme,
            region=new.region,
            visibility=new.visibility,
            owner=caller.subject,
            now=self._clock(),
            allowed_regions=self._regions,
        )
        return await self._repo.add_community(community, owner)

    async def get_community(self, caller: Principal, community_id: str) -> Community:
        return await self._visible_community(caller, community_id)

    async def join(self, caller: Principal, community_id: str) -> Membership:
        community = await self._visible_community(caller, community_id)
        existing = await self._repo.get_membership(community_id, caller.subject)
        if existing is not None:
            return existing
        membership = community.admit(caller.subject, self._clock())
        if not await self._repo.add_membership(membership, community.events):
            stored = await self._repo.get_membership(community_id, caller.subject)
            if stored is not None:
                return stored
        return membership

    async def list_members(
        self, caller: Principal, community_id: str, role: Role | None, page_size: int, page_token: str
    ) -> MemberPage:
        size = clamp_page_size(page_size, default=50, maximum=500)
        await self._visible_community(caller, community_id)
        return await self._repo.list_members(community_id, role, size, page_token)

    async def get_membership(
        self, caller: Principal, community_id: str, member_id: str
    ) -> tuple[Membership, Community]:
        check = Validator()
        check.require(bool(member_id), "member_id", "must not be empty")
        check.check()
        if member_id != caller.subject and not caller.is_service:
            # People may check others' memberships only in communities they can see.
            await self._visible_community(caller, community_id)
        community = await self._require_community(community_id)
        membership = await self._repo.get_membership(community_id, member_id)
        if membership is None:
            raise NotFound(f"{member_id} is not a member of {community_id}", reason="MEMBERSHIP_NOT_FOUND")
        return membership, community

    async def _require_community(self, community_id: str) -> Community:
        check = Validator()
        check.require(bool(community_id), "community_id", "must not be empty")
        check.check()
        community = await self._repo.get_community(community_id)
        if community is None:
            raise NotFound(f"community {community_id} not found", reason="COMMUNITY_NOT_FOUND")
        return community

    async def _visible_community(self, caller: Principal, community_id: str) -> Community:
        community = await self._require_community(community_id)
        if community.visible_to(None) or caller.is_service:
            return community
        if await self._repo.get_membership(community_id, caller.subject) is None:
            # Hidden communities do not reveal that they exist.
            raise NotFound(f"community {community_id} not found", reason="COMMUNITY_NOT_FOUND")
        return community
