"""The expert directory: who to ask about a topic, by declared expertise and reputation earned in it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from guild_common.tags import normalise_tag

# Score added for declaring a topic in one's profile: about three accepted answers' worth.
DECLARED_BONUS = 50
# The directory across all communities (points earned in hidden communities left out).
ALL_COMMUNITIES = "*"
TOPIC = re.compile(r"^[a-z0-9][a-z0-9_+#.-]{0,39}$")


def normalise_topic(tag: str) -> str:
    """A tag as posts store it."""
    return normalise_tag(tag)


def expert_score(points: int, declared: bool) -> int:
    return points + (DECLARED_BONUS if declared else 0)


def is_listed(points: int, declared: bool, member: bool) -> bool:
    """Whether someone appears: a current member (always, across communities) who declares or earned."""
    return member and (declared or points > 0)


@dataclass(frozen=True)
class Expert:
    member_id: str
    declared: bool
    points: int
    score: int
    display_name: str = ""
    job_title: str = ""
