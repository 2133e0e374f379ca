"""Pilot controls: owners name the group a community is compared against; its members read it."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from guild_common.auth import Principal
from guild_common.clock import utc_now
from guild_common.errors import NotFound, Validator
from guild_common.pagination import Page, clamp_page_size, decode_token, encode_token
from guild_community.app.ports import CommunityRepository, PilotControlRepository
from guild_community.app.visibility import authorize_visible, existing_community
from guild_community.domain.authorization import Action
from guild_community.domain.communities import Community
from guild_community.domain.pilot import PilotControl


@dataclass(frozen=True)
class ControlPage:
    control: PilotControl
    # A page of the control group's people (all of control.control_member_ids are kept on ``control``).
    members: Page[str]


def member_page(ids: Sequence[str], page_size: int, page_token: str) -> tuple[list[str], str]:
    """A page of the sorted ``ids`` after the token's position, and the next token."""
    after = str(decode_token(page_token).get("after", "")) if page_token else ""
    start = bisect.bisect_right(ids, after) if after else 0
    page = list(ids[start : start + page_size])
    more = start + page_size < len(ids)
    return page, encode_token({"after": page[-1]}) if more and page else ""


class PilotControlUseCases:
    def __init__(
        self,
        controls: PilotControlRepository,
        communities: CommunityRepository,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._controls = controls
        self._communities = communities
        self._clock = clock

    async def set(
        self, caller: Principal, community_id: str, control_community_id: str, member_ids: Sequence[str]
    ) -> ControlPage:
        community = await self._community(community_id)
        await authorize_visible(self._communities, caller, community, Action.MANAGE_GOALS)
        community.check_writable()
        check = Validator()
        control = PilotControl.named(
            community_id=community.id,
            control_community_id=control_community_id,
            control_member_ids=member_ids,
            set_by=caller.subject,
            now=self._clock(),
            check=check,
        )
        if control_community_id and control_community_id != community.id:
            check.require(
                await self._visible(caller, control_community_id),
                "control_community_id",
                f"no community {control_community_id[:64]} is known",
            )
        check.check()
        stored = await self._controls.set_control(control, community.region, community.programme)
        ids, token = member_page(stored.control_member_ids, clamp_page_size(0, 100, 1000), "")
        return ControlPage(stored, Page(ids, token))

    async def get(self, caller: Principal, community_id: str, page_size: int, page_token: str) -> ControlPage:
        size = clamp_page_size(page_size, default=100, maximum=1000)
        community = await self._community(community_id)
        await authorize_visible(self._communities, caller, community, Action.VIEW_GOALS)
        control = await self._controls.get_control(community.id)
        if control is None or not control.is_set:
            raise NotFound(
                f"no control group is set for community {community.id}", reason="PILOT_CONTROL_NOT_FOUND"
            )
        ids, token = member_page(control.control_member_ids, size, page_token)
        return ControlPage(control, Page(ids, token))

    async def _visible(self, caller: Principal, community_id: str) -> bool:
        other = await self._communities.get_community(community_id)
        if other is None:
            return False
        return other.visible_to(await self._communities.get_membership(other.id, caller.subject))

    async def _community(self, community_id: str) -> Community:
        return await existing_community(self._communities, community_id)
