"""Profiles and follows: people across communities. Pure rules and events."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime

from guild_common.errors import Validator
from guild_common.tags import normalise_tag
from guild_common.text import NAME_POLICY, is_clean_name

TAG = re.compile(r"^[a-z0-9][a-z0-9_+#.-]{0,39}$")
TAGS_MAX = 20
TEXT_MAX = {"display_name": 80, "job_title": 120, "department": 120, "bio": 2000}
# Region and programme of the subjects of people events, which belong to no one community.
GLOBAL = "global"


@dataclass
class Profile:
    member_id: str
    display_name: str = ""
    job_title: str = ""
    department: str = ""
    region: str = ""
    bio: str = ""
    expertise: list[str] = field(default_factory=list)
    interests: list[str] = field(default_factory=list)
    update_time: datetime | None = None
    follower_count: int = 0
    following_count: int = 0


@dataclass(frozen=True)
class ProfilePatch:
    """Fields to change; None leaves a field as it is."""

    display_name: str | None = None
    job_title: str | None = None
    department: str | None = None
    region: str | None = None
    bio: str | None = None
    expertise: list[str] | None = None
    interests: list[str] | None = None

    def fields(self) -> tuple[str, ...]:
        return tuple(
            name
            for name in ("display_name", "job_title", "department", "region", "bio", "expertise", "interests")
            if getattr(self, name) is not None
        )


@dataclass(frozen=True)
class ProfileUpdated:
    profile: Profile
    changed_fields: tuple[str, ...]


@dataclass(frozen=True)
class Follow:
    follower_id: str
    followee_id: str
    create_time: datetime

    @property
    def key(self) -> str:
        return follow_key(self.follower_id, self.followee_id)


@dataclass(frozen=True)
class Followed:
    follow: Follow


@dataclass(frozen=True)
class Unfollowed:
    follow: Follow
    time: datetime


PeopleEvent = ProfileUpdated | Followed | Unfollowed


def follow_key(follower_id: str, followee_id: str) -> str:
    return f"{follower_id}>{followee_id}"


def normalise_tags(tags: list[str]) -> list[str]:
    """Each tag as posts store it, de-duplicated in the given order; a blank one stays (and fails
    validation) rather than vanishing from what the person typed."""
    return list(dict.fromkeys(normalise_tag(tag) for tag in tags))


def apply_patch(profile: Profile, patch: ProfilePatch, regions: list[str], now: datetime) -> Profile:
    """The profile with ``patch`` applied; raises InvalidArgument on bad values."""
    check = Validator()
    check.require(bool(patch.fields()), "update_mask", "names no field to update")
    texts = {name: getattr(patch, name) for name in TEXT_MAX if getattr(patch, name) is not None}
    for name, value in texts.items():
        check.require(len(value) <= TEXT_MAX[name], f"profile.{name}", f"at most {TEXT_MAX[name]} characters")
        if name != "bio":
            check.require(is_clean_name(value), f"profile.{name}", NAME_POLICY)
    if patch.display_name is not None:
        check.require(bool(patch.display_name.strip()), "profile.display_name", "must not be empty")
    if patch.region is not None:
        check.require(
            patch.region in ("", *regions), "profile.region", f"empty or one of {', '.join(regions)}"
        )
    tags: dict[str, list[str]] = {}
    for name in ("expertise", "interests"):
        given: list[str] | None = getattr(patch, name)
        if given is None:
            continue
        tags[name] = normalise_tags(given)
        check.require(len(tags[name]) <= TAGS_MAX, f"profile.{name}", f"at most {TAGS_MAX} tags")
        bad = [t for t in tags[name] if not TAG.match(t)]
        check.require(
            not bad, f"profile.{name}", "tags are 1-40 lowercase letters, digits or '-', '_', '+', '#', '.'"
        )
    check.check()
    return replace(
        profile,
        display_name=profile.display_name if patch.display_name is None else patch.display_name.strip(),
        job_title=profile.job_title if patch.job_title is None else patch.job_title,
        department=profile.department if patch.department is None else patch.department,
        region=profile.region if patch.region is None else patch.region,
        bio=profile.bio if patch.bio is None else patch.bio,
        expertise=tags.get("expertise", profile.expertise),
        interests=tags.get("interests", profile.interests),
        update_time=now,
    )
