"""Communities and memberships: pure domain objects and their rules."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from guild_common.errors import FailedPrecondition, Validator

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,62}[a-z0-9])$")
LABEL = re.compile(r"^[a-z0-9_]{2,32}$")
NAME_MAX = 120
DESCRIPTION_MAX = 4000


class Role(StrEnum):
    MEMBER = "member"
    CHAMPION = "champion"
    CURATOR = "curator"
    MODERATOR = "moderator"
    OWNER = "owner"


class Visibility(StrEnum):
    OPEN = "open"
    REQUEST_TO_JOIN = "request_to_join"
    INVITE_ONLY = "invite_only"
    HIDDEN = "hidden"


class Lifecycle(StrEnum):
    DRAFT = "draft"
    PILOT = "pilot"
    LIVE = "live"
    ARCHIVED = "archived"


@dataclass(frozen=True)
class CommunityCreated:
    community: Community


@dataclass(frozen=True)
class MemberJoined:
    membership: Membership
    region: str
    programme: str


DomainEvent = CommunityCreated | MemberJoined


@dataclass
class Membership:
    community_id: str
    member_id: str
    role: Role
    join_time: datetime

    @property
    def key(self) -> str:
        return membership_key(self.community_id, self.member_id)


def membership_key(community_id: str, member_id: str) -> str:
    return f"{community_id}:{member_id}"


@dataclass
class Community:
    id: str
    slug: str
    name: str
    description: str
    programme: str
    region: str
    visibility: Visibility
    lifecycle: Lifecycle
    created_by: str
    create_time: datetime
    member_count: int = 0
    version: int = 1
    events: list[DomainEvent] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def create(
        cls,
        *,
        id: str,
        slug: str,
        name: str,
        description: str,
        programme: str,
        region: str,
        visibility: Visibility,
        owner: str,
        now: datetime,
        allowed_regions: list[str],
    ) -> tuple[Community, Membership]:
        """A new live community with its creator as owner; raises InvalidArgument on bad fields."""
        check = Validator()
        check.require(bool(name.strip()), "name", "must not be empty")
        check.require(len(name) <= NAME_MAX, "name", f"at most {NAME_MAX} characters")
        check.require(bool(SLUG.match(slug)), "slug", "3-64 lowercase letters, digits or inner hyphens")
        check.require(
            len(description) <= DESCRIPTION_MAX, "description", f"at most {DESCRIPTION_MAX} characters"
        )
        check.require(
            bool(LABEL.match(programme)), "programme", "2-32 lowercase letters, digits or underscores"
        )
        check.require(region in allowed_regions, "region", f"one of {', '.join(allowed_regions)}")
        check.check()
        community = cls(
            id=id,
            slug=slug,
            name=name.strip(),
            description=description,
            programme=programme,
            region=region,
            visibility=visibility,
            lifecycle=Lifecycle.LIVE,
            created_by=owner,
            create_time=now,
            member_count=1,
        )
        owner_membership = Membership(community_id=id, member_id=owner, role=Role.OWNER, join_time=now)
        community.events.append(CommunityCreated(community))
        community.events.append(MemberJoined(owner_membership, region, programme))
        return community, owner_membership

    def admit(self, member_id: str, now: datetime) -> Membership:
        """Admit someone joining on their own; only open, non-archived communities allow it."""
        if self.lifecycle == Lifecycle.ARCHIVED:
            raise FailedPrecondition("the community is archived", reason="COMMUNITY_ARCHIVED")
        if self.visibility != Visibility.OPEN:
            raise FailedPrecondition(
                f"the community is {self.visibility.value}; it cannot be joined directly",
                reason="COMMUNITY_NOT_OPEN",
            )
        membership = Membership(community_id=self.id, member_id=member_id, role=Role.MEMBER, join_time=now)
        self.events.append(MemberJoined(membership, self.region, self.programme))
        return membership

    def visible_to(self, membership: Membership | None) -> bool:
        return self.visibility != Visibility.HIDDEN or membership is not None
