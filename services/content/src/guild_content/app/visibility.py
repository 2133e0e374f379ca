"""Content's one rule for who may read a community: anyone may read an open or restricted community,
only its members (and services) a hidden one; to anyone else a hidden community does not exist."""

from __future__ import annotations

from guild_common.auth import Principal
from guild_common.errors import NotFound
from guild_content.app.ports import MembershipDirectory
from guild_content.domain.community import CommunityView


async def readable_community(
    directory: MembershipDirectory, caller: Principal, community_id: str
) -> CommunityView:
    """The community, or ``NotFound`` when it is unknown or hidden from the caller."""
    community = await directory.community(community_id)
    if community is not None and (
        community.visibility != "hidden"
        or caller.is_service
        or await directory.membership(community_id, caller.subject) is not None
    ):
        return community
    raise NotFound(f"community {community_id} not found", reason="COMMUNITY_NOT_FOUND")
