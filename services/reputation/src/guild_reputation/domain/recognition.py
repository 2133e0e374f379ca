"""Contribution summaries for performance reviews: roles held over a period and top tags."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from guild_reputation.domain.badges import Award

DEFAULT_SPAN = timedelta(days=365)
TOP_TAGS = 5
# Roles worth naming in a review; plain membership is not one.
NOTABLE_ROLES = frozenset({"champion", "curator", "moderator", "owner"})
# A revocation of every role (the member left the community).
ANY_ROLE = "*"


@dataclass(frozen=True)
class RoleChange:
    community_id: str
    role: str
    granted: bool
    at: datetime


@dataclass(frozen=True)
class RoleHeld:
    community_id: str
    role: str
    since: datetime
    until: datetime | None


def roles_held(changes: Iterable[RoleChange], start: datetime, end: datetime) -> list[RoleHeld]:
    """The notable roles held at some moment in [start, end), from the member's changes in time order."""
    open_since: dict[tuple[str, str], datetime] = {}
    held: list[RoleHeld] = []
    for change in sorted(changes, key=lambda c: c.at):
        if change.granted:
            if change.role in NOTABLE_ROLES:
                open_since.setdefault((change.community_id, change.role), change.at)
            continue
        closed = [
            key for key in open_since if key[0] == change.community_id and change.role in (key[1], ANY_ROLE)
        ]
        for key in closed:
            since = open_since.pop(key)
            if since < end and change.at > start:
                held.append(RoleHeld(key[0], key[1], since, change.at))
    held += [
        RoleHeld(community, role, since, None)
        for (community, role), since in open_since.items()
        if since < end
    ]
    return sorted(held, key=lambda r: (r.since, r.community_id, r.role))


def top_tags(tag_lists: Iterable[Iterable[str]], limit: int = TOP_TAGS) -> list[tuple[str, int]]:
    """The most frequent tags, ties by name."""
    counts = Counter(tag for tags in tag_lists for tag in set(tags))
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]


@dataclass(frozen=True)
class ContributionSummary:
    member_id: str
    start: datetime
    end: datetime
    questions: int
    answers: int
    accepted_answers: int
    comments: int
    resources_shared: int
    resource_average_rating: float
    resource_ratings: int
    badges: list[Award]
    top_tags: list[tuple[str, int]]
    community_ids: list[str]
    roles: list[RoleHeld]
    collections_curated: int = 0
