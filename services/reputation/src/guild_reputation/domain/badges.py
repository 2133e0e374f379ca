"""The built-in badge catalogue: which counts earn which tier. Pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

CITATION_MAX = 500


class Tier(StrEnum):
    BRONZE = "bronze"
    SILVER = "silver"
    GOLD = "gold"


class Badge(StrEnum):
    FIRST_QUESTION = "first_question"
    FIRST_ANSWER = "first_answer"
    FIRST_ACCEPTED_ANSWER = "first_accepted_answer"
    # An answer with this many upvotes.
    HELPFUL = "helpful"
    # This many accepted answers.
    MENTOR = "mentor"
    # A question that drew this many answers from others.
    CONVERSATION_STARTER = "conversation_starter"
    # Contributed (asked or answered) this many calendar weeks running.
    STREAK = "streak"
    # Granted by an owner, with a citation.
    CHAMPION = "champion"


TITLES = {
    Badge.FIRST_QUESTION: "First question",
    Badge.FIRST_ANSWER: "First answer",
    Badge.FIRST_ACCEPTED_ANSWER: "First accepted answer",
    Badge.HELPFUL: "Helpful",
    Badge.MENTOR: "Mentor",
    Badge.CONVERSATION_STARTER: "Conversation starter",
    Badge.STREAK: "Streak",
    Badge.CHAMPION: "Champion",
}

# The count each tier needs; single-tier badges are bronze at 1 (champion is granted, not counted).
THRESHOLDS: dict[Badge, dict[Tier, int]] = {
    Badge.FIRST_QUESTION: {Tier.BRONZE: 1},
    Badge.FIRST_ANSWER: {Tier.BRONZE: 1},
    Badge.FIRST_ACCEPTED_ANSWER: {Tier.BRONZE: 1},
    Badge.HELPFUL: {Tier.BRONZE: 10, Tier.SILVER: 25, Tier.GOLD: 100},
    Badge.MENTOR: {Tier.BRONZE: 10, Tier.SILVER: 50, Tier.GOLD: 200},
    Badge.CONVERSATION_STARTER: {Tier.BRONZE: 5, Tier.SILVER: 10, Tier.GOLD: 20},
    Badge.STREAK: {Tier.BRONZE: 4, Tier.SILVER: 12, Tier.GOLD: 26},
}


def tiers_reached(badge: Badge, count: int) -> list[Tier]:
    """Every tier ``count`` reaches, lowest first."""
    return [tier for tier, needed in THRESHOLDS[badge].items() if count >= needed]


def title(badge: Badge, tier: Tier) -> str:
    if len(THRESHOLDS.get(badge, {})) <= 1:
        return TITLES[badge]
    return f"{TITLES[badge]} ({tier.value})"


def award_id(community_id: str, member_id: str, badge: Badge, tier: Tier) -> str:
    """The natural key: each badge and tier is awarded once per member and community."""
    return f"{community_id}:{member_id}:{badge.value}:{tier.value}"


@dataclass(frozen=True)
class Award:
    id: str
    community_id: str
    member_id: str
    badge: Badge
    tier: Tier
    time: datetime
    citation: str = ""
    granted_by: str = ""
    source_event_id: str = ""

    @property
    def title(self) -> str:
        return title(self.badge, self.tier)

    @classmethod
    def of(
        cls,
        community_id: str,
        member_id: str,
        badge: Badge,
        tier: Tier,
        time: datetime,
        *,
        citation: str = "",
        granted_by: str = "",
        source_event_id: str = "",
    ) -> Award:
        return cls(
            award_id(community_id, member_id, badge, tier),
            community_id,
            member_id,
            badge,
            tier,
            time,
            citation,
            granted_by,
            source_event_id,
        )


def weeks_running(weeks: set[str], week_of: list[str]) -> int:
    """How many of ``week_of`` (this week, the one before, ...) in a row are in ``weeks``."""
    run = 0
    for week in week_of:
        if week not in weeks:
            break
        run += 1
    return run
