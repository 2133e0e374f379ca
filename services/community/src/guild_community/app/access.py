"""Who may act in a community's goals and surveys: the authorisation table, behind the community's veil."""

from __future__ import annotations

from guild_common.auth import Principal
from guild_common.errors import NotFound, Validator
from guild_community.app.ports import CommunityRepository
from guild_community.domain.authorization import Action, authorize
from guild_community.domain.model import Community


async def authorize_visible(
    communities: CommunityRepository, caller: Principal, community: Community, action: Action
) -> None:
    """``NotFound`` for outsiders of a hidden community (it does not reveal that it exists), then the
    authorisation table's verdict for the caller's role."""
    membership = await communities.get_membership(community.id, caller.subject)
    if not community.visible_to(membership):
        raise NotFound(f"community {community.id} not found", reason="COMMUNITY_NOT_FOUND")
    authorize(membership.role if membership is not None else None, action)


async def existing_community(communities: CommunityRepository, community_id: str) -> Community:
    """The community ``community_id``: ``InvalidArgument`` for an empty id, ``NotFound`` for an unknown
    one."""
    check = Validator()
    check.require(bool(community_id), "community_id", "must not be empty")
    check.check()
    community = await communities.get_community(community_id)
    if community is None:
        raise NotFound(f"community {community_id} not found", reason="COMMUNITY_NOT_FOUND")
    return community
