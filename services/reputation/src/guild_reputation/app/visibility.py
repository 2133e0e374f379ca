"""Who may see a community's figures in reputation: the one visibility rule, applied to every read.

- A community that is not hidden is seen by every signed-in caller (members-only reads such as insights
  then also ask for membership, see ``access``).
- A hidden community is seen by its members and by other services. To anyone else it is answered exactly
  as a community that does not exist: NOT_FOUND with reason ``COMMUNITY_NOT_FOUND`` and no data.
- A community reputation has never heard of (not created as far as its events say, nobody ever joined
  or posted in it) does not exist: NOT_FOUND, the same answer, for members-only figures (insights,
  goals, tag boards, badge definitions). Boards, standings, points rules and badge lists answer such a
  community with empty figures (defaults for rules), as before; a hidden one is NOT_FOUND there too.
- Aggregates across communities (the all-communities boards and standings, programme and region
  insights) leave hidden communities out, the same for every caller: points and posts in a hidden
  community show on that community's own board and figures only, to those who may see it. One answer
  for everyone keeps the all-communities board an in-memory order-statistic structure rather than a
  per-caller computation, and it is the choice the community service's expert directory made too.
- Lists about one person across communities (badges, contribution summaries) hold, for anyone but the
  person themself or a service, only what was earned in communities the reader may see.
"""

from __future__ import annotations

from collections.abc import Iterable

from guild_common.auth import Principal
from guild_common.errors import NotFound
from guild_reputation.app.ports import CommunityVisibilities, KnownCommunities, RoleDirectory

HIDDEN = "hidden"


def not_found(community_id: str) -> NotFound:
    """The one answer for a community that does not exist or that the caller may not see."""
    return NotFound(f"no community {community_id} is known", reason="COMMUNITY_NOT_FOUND")


class Visibility:
    def __init__(
        self, communities: CommunityVisibilities, known: KnownCommunities, roles: RoleDirectory
    ) -> None:
        self._communities = communities
        self._known = known
        self._roles = roles

    async def _sees(self, caller: Principal, community_id: str, visibility: str | None) -> bool:
        if visibility != HIDDEN or caller.is_service:
            return True
        return await self._roles.role(community_id, caller.subject) is not None

    async def may_see(self, caller: Principal, community_id: str) -> bool:
        """Whether the community exists and the caller may see it."""
        visibility = await self._communities.visibility(community_id)
        if visibility is None and not await self._known.known_community(community_id):
            return False
        return await self._sees(caller, community_id, visibility)

    async def require(self, caller: Principal, community_id: str) -> None:
        """``NotFound`` unless the community exists and the caller may see it."""
        if not await self.may_see(caller, community_id):
            raise not_found(community_id)

    async def require_unhidden(self, caller: Principal, community_id: str) -> None:
        """``NotFound`` for a hidden community the caller may not see. For reads that answer a community
        with no figures yet (boards, points rules, badges) with empty figures, not NOT_FOUND: their
        callers poll a community before its first event arrives."""
        visibility = await self._communities.visibility(community_id)
        if not await self._sees(caller, community_id, visibility):
            raise not_found(community_id)

    async def visible_of(self, caller: Principal, community_ids: Iterable[str]) -> set[str]:
        """The communities of ``community_ids`` the caller may see (for filtering what is already
        known to exist, such as a member's awards)."""
        wanted = set(community_ids)
        if caller.is_service or not wanted:
            return wanted
        hidden = await self.hidden()
        return {c for c in wanted if c not in hidden or await self._sees(caller, c, HIDDEN)}

    async def unseen_of(self, caller: Principal, community_ids: Iterable[str]) -> frozenset[str]:
        """The communities of ``community_ids`` the caller may not see: what a list about one person
        leaves out."""
        wanted = frozenset(community_ids)
        return wanted - await self.visible_of(caller, wanted)

    async def hidden(self) -> frozenset[str]:
        """The communities every cross-community aggregate leaves out."""
        return await self._communities.hidden_ids()
