"""Who may read a community and act in it: hidden communities answer NotFound to outsiders, then the
authorisation table decides."""

from __future__ import annotations

from guild_common.auth import Principal
from guild_common.errors import NotFound, Validator
from guild_community.app.ports import CommunityRepository
from guild_community.domain.authorization import Action, authorize
from guild_community.domain.communities import Community


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


async def visible_community(
    communities: CommunityRepository, caller: Principal, community_id: str
) -> Community:
    """The community if the caller can see it: a hidden one only to its members, its invitees and services
    (``NotFound`` for anyone else, so it does not reveal that it exists)."""
    community = await existing_community(communities, community_id)
    if community.visible_to(None) or caller.is_service:
        return community
    if (
        await communities.get_membership(community_id, caller.subject) is None
        and await communities.get_invitation(community_id, caller.subject) is None
    ):
        raise NotFound(f"community {community_id} not found", reason="COMMUNITY_NOT_FOUND")
    return community
