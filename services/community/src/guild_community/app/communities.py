"""A community's commands and queries: creating it, reading and listing communities, changing its settings
and lifecycle."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from guild_common.auth import Principal
from guild_common.clock import utc_now
from guild_common.errors import (
    Validator,
)
from guild_common.ids import id_for_request, new_id
from guild_common.pagination import Page, clamp_page_size
from guild_community.app.ports import (
    CommunityFilter,
    CommunityRepository,
)
from guild_community.app.visibility import visible_community
from guild_community.domain.authorization import Action, authorize
from guild_community.domain.communities import (
    AUTO_HIDE_DEFAULT,
    Community,
    CommunityPatch,
    Lifecycle,
    Visibility,
)
from guild_community.domain.membership import (
    Role,
)


@dataclass(frozen=True)
class NewCommunity:
    name: str
    slug: str
    description: str
    programme: str
    region: str
    visibility: Visibility
    request_id: str
    lifecycle: Lifecycle = Lifecycle.LIVE
    auto_hide_flag_threshold: int = AUTO_HIDE_DEFAULT
    pilot_cap: int = 0


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
            lifecycle=new.lifecycle,
            auto_hide_flag_threshold=new.auto_hide_flag_threshold,
            pilot_cap=new.pilot_cap,
        )
        return await self._repo.add_community(community, owner)

    async def get_community(self, caller: Principal, community_id: str) -> Community:
        return await visible_community(self._repo, caller, community_id)

    async def visible_community(self, caller: Principal, community_id: str) -> Community:
        """The community if the caller can see it; NotFound for a hidden one they are not part of."""
        return await visible_community(self._repo, caller, community_id)

    async def list_communities(
        self, caller: Principal, where: CommunityFilter, mine: bool, page_size: int, page_token: str
    ) -> Page[Community]:
        size = clamp_page_size(page_size, default=50, maximum=200)
        check = Validator()
        check.require(len(where.name_prefix) <= 120, "name_prefix", "at most 120 characters")
        check.check()
        if mine:
            where = CommunityFilter(
                programme=where.programme,
                region=where.region,
                lifecycle=where.lifecycle,
                visibility=where.visibility,
                member_id=caller.subject,
                name_prefix=where.name_prefix,
            )
        return await self._repo.list_communities(where, size, page_token)

    async def update_community(
        self, caller: Principal, community_id: str, patch: CommunityPatch
    ) -> Community:
        community = await visible_community(self._repo, caller, community_id)
        await self._authorize(caller, community, Action.UPDATE_COMMUNITY)
        now = self._clock()
        return await self._repo.update_community(community_id, lambda c: c.update(patch, caller.subject, now))

    async def change_lifecycle(self, caller: Principal, community_id: str, target: Lifecycle) -> Community:
        community = await visible_community(self._repo, caller, community_id)
        await self._authorize(caller, community, Action.CHANGE_LIFECYCLE)
        now = self._clock()
        return await self._repo.update_community(
            community_id, lambda c: c.change_lifecycle(target, caller.subject, now)
        )

    async def _authorize(self, caller: Principal, community: Community, action: Action) -> Role | None:
        membership = await self._repo.get_membership(community.id, caller.subject)
        role = membership.role if membership is not None else None
        authorize(role, action)
        return role
