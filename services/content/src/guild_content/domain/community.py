"""Communities and members as content sees them: roles and the role checks of content's rules."""

from __future__ import annotations

from dataclasses import dataclass

from guild_common.errors import FailedPrecondition, PermissionDenied
from guild_common.vocabulary import Role as Role

MODERATING_ROLES = frozenset({Role.MODERATOR, Role.OWNER})


@dataclass(frozen=True)
class CommunityView:
    """What content knows of a community, learnt from community events."""

    id: str
    region: str
    programme: str
    lifecycle: str
    visibility: str
    # Distinct flags that hide a post pending review; 0 while unknown (the service's default applies).
    flag_threshold: int = 0

    def ensure_writable(self) -> None:
        if self.lifecycle == "archived":
            raise FailedPrecondition("the community is archived and read-only", reason="COMMUNITY_ARCHIVED")


@dataclass(frozen=True)
class MembershipView:
    community_id: str
    member_id: str
    role: Role


ANNOUNCING_ROLES = frozenset({Role.MODERATOR, Role.OWNER})


CURATING_ROLES = frozenset({Role.CURATOR, Role.MODERATOR, Role.OWNER})
CHAMPIONING_ROLES = frozenset({Role.CHAMPION, *CURATING_ROLES})


def ensure_champion(by: MembershipView) -> None:
    if by.role not in CHAMPIONING_ROLES:
        raise PermissionDenied(
            "only champions, curators and moderators may do this",
            reason="NOT_A_CHAMPION",
            metadata={"required_role": Role.CHAMPION.value},
        )


def ensure_curator(by: MembershipView) -> None:
    if by.role not in CURATING_ROLES:
        raise PermissionDenied(
            "only curators and moderators may do this",
            reason="NOT_A_CURATOR",
            metadata={"required_role": Role.CURATOR.value},
        )


def ensure_moderator(by: MembershipView) -> None:
    if by.role not in MODERATING_ROLES:
        raise PermissionDenied(
            "only moderators may do this",
            reason="NOT_A_MODERATOR",
            metadata={"required_role": Role.MODERATOR.value},
        )
