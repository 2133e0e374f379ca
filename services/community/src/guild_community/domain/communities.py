"""Communities: their settings, lifecycle and admission rules, and the events they raise."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from guild_common.errors import FailedPrecondition, Validator
from guild_common.text import NAME_POLICY, is_clean_name
from guild_community.domain.membership import (
    Admission,
    JoinRequested,
    MemberInvited,
    MemberJoined,
    MemberLeft,
    Membership,
    Role,
    RoleGranted,
    RoleRevoked,
)

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,62}[a-z0-9])$")
LABEL = re.compile(r"^[a-z0-9_]{2,32}$")
NAME_MAX = 120
DESCRIPTION_MAX = 4000


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
class LifecycleChanged:
    community_id: str
    previous: Lifecycle
    lifecycle: Lifecycle
    changed_by: str
    region: str
    programme: str
    time: datetime


@dataclass(frozen=True)
class CommunityUpdated:
    community: Community
    changed_fields: tuple[str, ...]
    updated_by: str
    time: datetime


DomainEvent = (
    CommunityCreated
    | MemberJoined
    | LifecycleChanged
    | CommunityUpdated
    | MemberLeft
    | RoleGranted
    | RoleRevoked
    | MemberInvited
    | JoinRequested
)


# Lifecycle moves a community may make.
TRANSITIONS: dict[Lifecycle, frozenset[Lifecycle]] = {
    Lifecycle.DRAFT: frozenset({Lifecycle.PILOT}),
    Lifecycle.PILOT: frozenset({Lifecycle.LIVE, Lifecycle.DRAFT}),
    Lifecycle.LIVE: frozenset({Lifecycle.ARCHIVED}),
    Lifecycle.ARCHIVED: frozenset(),
}


INITIAL_LIFECYCLES = frozenset({Lifecycle.DRAFT, Lifecycle.PILOT, Lifecycle.LIVE})
AUTO_HIDE_DEFAULT = 3
AUTO_HIDE_MAX = 100
PILOT_CAP_MAX = 100_000


@dataclass(frozen=True)
class CommunityPatch:
    """Fields to change; None leaves a field as it is."""

    name: str | None = None
    description: str | None = None
    visibility: Visibility | None = None
    auto_hide_flag_threshold: int | None = None
    pilot_cap: int | None = None

    def fields(self) -> tuple[str, ...]:
        names = {
            "name": self.name,
            "description": self.description,
            "visibility": self.visibility,
            "settings.auto_hide_flag_threshold": self.auto_hide_flag_threshold,
            "settings.pilot_cap": self.pilot_cap,
        }
        return tuple(k for k, v in names.items() if v is not None)


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
    auto_hide_flag_threshold: int = AUTO_HIDE_DEFAULT
    pilot_cap: int = 0
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
        lifecycle: Lifecycle = Lifecycle.LIVE,
        auto_hide_flag_threshold: int = AUTO_HIDE_DEFAULT,
        pilot_cap: int = 0,
    ) -> tuple[Community, Membership]:
        """A new community (live unless asked otherwise) with its creator as owner.

        Raises InvalidArgument on bad fields."""
        check = Validator()
        check.require(lifecycle in INITIAL_LIFECYCLES, "lifecycle", "draft, pilot or live")
        _check_settings(check, auto_hide_flag_threshold, pilot_cap)
        _check_name(check, name, description)
        check.require(bool(SLUG.match(slug)), "slug", "3-64 lowercase letters, digits or inner hyphens")
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
            lifecycle=lifecycle,
            created_by=owner,
            create_time=now,
            member_count=1,
            auto_hide_flag_threshold=auto_hide_flag_threshold,
            pilot_cap=pilot_cap,
        )
        owner_membership = Membership(community_id=id, member_id=owner, role=Role.OWNER, join_time=now)
        community.events.append(CommunityCreated(community))
        community.events.append(MemberJoined(owner_membership, region, programme))
        return community, owner_membership

    def check_admission(self, how: Admission, *, invited: bool = False, banned: bool = False) -> None:
        """Raise FailedPrecondition unless someone may become a member (or be invited) this way now."""
        if self.lifecycle == Lifecycle.ARCHIVED:
            raise FailedPrecondition("the community is archived and read-only", reason="COMMUNITY_ARCHIVED")
        if banned:
            raise FailedPrecondition("banned from this community", reason="MEMBER_BANNED")
        if how in (Admission.INVITE, Admission.ENROL, Admission.APPROVE):
            return
        if how == Admission.ACCEPT:
            if not invited:
                raise FailedPrecondition("no pending invitation", reason="NO_INVITATION")
            return
        if invited:
            return  # joining with a pending invitation is accepting it
        if self.lifecycle == Lifecycle.DRAFT:
            raise FailedPrecondition(
                "the community is a draft; it cannot be joined", reason="COMMUNITY_DRAFT"
            )
        if self.lifecycle == Lifecycle.PILOT:
            raise FailedPrecondition(
                "the community is in pilot; only its invited cohort can join", reason="NOT_IN_COHORT"
            )
        wanted = Visibility.OPEN if how == Admission.JOIN else Visibility.REQUEST_TO_JOIN
        if self.visibility != wanted:
            raise FailedPrecondition(
                f"the community is {self.visibility.value}; it cannot be joined this way",
                reason="COMMUNITY_NOT_OPEN" if how == Admission.JOIN else "REQUESTS_NOT_ACCEPTED",
            )

    def check_pilot_cap(self, newcomers: int) -> None:
        if (
            self.lifecycle == Lifecycle.PILOT
            and self.pilot_cap
            and self.member_count + newcomers > self.pilot_cap
        ):
            raise FailedPrecondition(
                f"the pilot is capped at {self.pilot_cap} members",
                reason="PILOT_CAP_REACHED",
                metadata={"pilot_cap": str(self.pilot_cap), "member_count": str(self.member_count)},
            )

    def check_writable(self) -> None:
        if self.lifecycle == Lifecycle.ARCHIVED:
            raise FailedPrecondition("the community is archived and read-only", reason="COMMUNITY_ARCHIVED")

    def admit(self, member_id: str, now: datetime, role: Role = Role.MEMBER) -> Membership:
        """A new membership and its member_joined event (admission checked by the caller)."""
        membership = Membership(community_id=self.id, member_id=member_id, role=role, join_time=now)
        self.events.append(MemberJoined(membership, self.region, self.programme))
        return membership

    def change_lifecycle(self, target: Lifecycle, actor: str, now: datetime) -> None:
        if target not in TRANSITIONS[self.lifecycle]:
            allowed = ", ".join(sorted(t.value for t in TRANSITIONS[self.lifecycle])) or "none"
            raise FailedPrecondition(
                f"cannot move from {self.lifecycle.value} to {target.value} (allowed: {allowed})",
                reason="INVALID_LIFECYCLE_TRANSITION",
                metadata={"from": self.lifecycle.value, "to": target.value},
            )
        previous = self.lifecycle
        self.lifecycle = target
        self.version += 1
        self.events.append(
            LifecycleChanged(self.id, previous, target, actor, self.region, self.programme, now)
        )

    def update(self, patch: CommunityPatch, actor: str, now: datetime) -> None:
        """Apply the fields set in ``patch``; raises InvalidArgument on bad values."""
        self.check_writable()
        check = Validator()
        check.require(bool(patch.fields()), "update_mask", "names no field to update")
        name = self.name if patch.name is None else patch.name
        description = self.description if patch.description is None else patch.description
        threshold = (
            self.auto_hide_flag_threshold
            if patch.auto_hide_flag_threshold is None
            else patch.auto_hide_flag_threshold
        )
        cap = self.pilot_cap if patch.pilot_cap is None else patch.pilot_cap
        _check_name(check, name, description)
        _check_settings(check, threshold, cap)
        check.check()
        self.name = name.strip()
        self.description = description
        if patch.visibility is not None:
            self.visibility = patch.visibility
        self.auto_hide_flag_threshold = threshold
        self.pilot_cap = cap
        self.version += 1
        self.events.append(CommunityUpdated(self, patch.fields(), actor, now))

    def visible_to(self, membership: Membership | None) -> bool:
        return self.visibility != Visibility.HIDDEN or membership is not None


def name_key(name: str) -> str:
    """The case-insensitive sort and prefix-search key of a name."""
    return name.strip().casefold()


def prefix_key(prefix: str) -> str:
    """The key a name prefix is searched by (trailing spaces count: "sales " is not "salesforce")."""
    return prefix.lstrip().casefold()


def _check_name(check: Validator, name: str, description: str) -> None:
    check.require(bool(name.strip()), "name", "must not be empty")
    check.require(len(name) <= NAME_MAX, "name", f"at most {NAME_MAX} characters")
    check.require(is_clean_name(name), "name", NAME_POLICY)
    check.require(len(description) <= DESCRIPTION_MAX, "description", f"at most {DESCRIPTION_MAX} characters")


def _check_settings(check: Validator, auto_hide_flag_threshold: int, pilot_cap: int) -> None:
    check.require(
        1 <= auto_hide_flag_threshold <= AUTO_HIDE_MAX,
        "settings.auto_hide_flag_threshold",
        f"between 1 and {AUTO_HIDE_MAX}",
    )
    check.require(0 <= pilot_cap <= PILOT_CAP_MAX, "settings.pilot_cap", f"between 0 and {PILOT_CAP_MAX}")
