"""Communities and memberships as content reads and records them."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from guild_content.domain.community import CommunityView, MembershipView, Role


class MembershipDirectory(Protocol):
    """Who belongs where: a local read model fed by community events, read through on a miss."""

    async def community(self, community_id: str) -> CommunityView | None: ...

    async def membership(self, community_id: str, member_id: str) -> MembershipView | None: ...

    async def communities_of(self, member_id: str) -> list[str]:
        """The communities the member is known to belong to."""
        ...


class MembershipStore(Protocol):
    """The writable side of the membership read model."""

    async def put_community(self, view: CommunityView, as_of: datetime) -> None: ...

    async def set_lifecycle(self, community_id: str, lifecycle: str, as_of: datetime) -> None: ...

    async def update_settings(
        self, community_id: str, visibility: str, flag_threshold: int, as_of: datetime
    ) -> None: ...

    async def put_membership(self, view: MembershipView, as_of: datetime) -> None: ...

    async def remove_membership(self, community_id: str, member_id: str, as_of: datetime) -> None: ...

    async def set_role(self, community_id: str, member_id: str, role: Role, as_of: datetime) -> None: ...
