"""The built-in badge catalogue: which counts earn which tier. Pure, no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    # This many published collections of at least CURATED_ITEMS items, each rated CURATED_AVERAGE or more.
    CURATOR = "curator"


# What makes a collection count for the curator badge.
CURATED_ITEMS = 5
CURATED_AVERAGE = 4.0


TITLES = {
    Badge.FIRST_QUESTION: "First question",
    Badge.FIRST_ANSWER: "First answer",
    Badge.FIRST_ACCEPTED_ANSWER: "First accepted answer",
    Badge.HELPFUL: "Helpful",
    Badge.MENTOR: "Mentor",
    Badge.CONVERSATION_STARTER: "Conversation starter",
    Badge.STREAK: "Streak",
    Badge.CHAMPION: "Champion",
    Badge.CURATOR: "Curator",
}

DESCRIPTIONS = {
    Badge.FIRST_QUESTION: "Asked a first question in the community.",
    Badge.FIRST_ANSWER: "Answered someone else's question for the first time.",
    Badge.FIRST_ACCEPTED_ANSWER: "Gave a first answer the asker accepted.",
    Badge.HELPFUL: "Wrote an answer the community found helpful.",
    Badge.MENTOR: "Answered others' questions well, again and again.",
    Badge.CONVERSATION_STARTER: "Asked a question that drew many answers.",
    Badge.STREAK: "Contributed week after week.",
    Badge.CHAMPION: "Recognised by the community's owners as a champion.",
    Badge.CURATOR: "Curated collections of resources the community rates highly.",
}

# How each badge is earned; {n} is the tier's count.
CRITERIA = {
    Badge.FIRST_QUESTION: "Ask {n} question in the community.",
    Badge.FIRST_ANSWER: "Answer {n} question asked by someone else.",
    Badge.FIRST_ACCEPTED_ANSWER: "Have {n} answer to someone else's question accepted.",
    Badge.HELPFUL: "Write an answer whose score (upvotes less downvotes) reaches {n}.",
    Badge.MENTOR: "Have {n} answers to others' questions accepted.",
    Badge.CONVERSATION_STARTER: "Ask a question that {n} other members answer.",
    Badge.STREAK: "Ask or answer questions in {n} calendar weeks running.",
    Badge.CHAMPION: "Granted by an owner of the community, with a citation.",
    Badge.CURATOR: (
        f"Publish {{n}} collection(s) of {CURATED_ITEMS} or more items, each rated {CURATED_AVERAGE:g} stars"
        " or more on average."
    ),
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
    Badge.CURATOR: {Tier.BRONZE: 1, Tier.SILVER: 3, Tier.GOLD: 10},
}


def tiers_reached(badge: Badge, count: int) -> list[Tier]:
    """Every tier ``count`` reaches, lowest first."""
    return [tier for tier, needed in THRESHOLDS[badge].items() if count >= needed]


def well_curated(item_ids: Sequence[str], averages: Mapping[str, float]) -> bool:
    """A collection counts for the curator badge: enough items, each (rated and) rated well on average."""
    items = set(item_ids)
    return len(items) >= CURATED_ITEMS and all(averages.get(i, 0.0) >= CURATED_AVERAGE for i in items)


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
    # A built-in ``Badge`` value, or ``custom`` for an owners' definition.
    badge: str
    tier: Tier
    time: datetime
    citation: str = ""
    granted_by: str = ""
    source_event_id: str = ""
    # Custom badges only: the definition, its title and description as at the award.
    definition_id: str = ""
    custom_title: str = ""
    description: str = ""
    # Custom badges only: the criteria in words.
    criteria: str = ""

    @property
    def title(self) -> str:
        return self.custom_title or title(Badge(self.badge), self.tier)

    @property
    def summary(self) -> str:
        """What the badge recognises."""
        if self.definition_id:
            return self.description or self.criteria
        return DESCRIPTIONS[Badge(self.badge)]

    @property
    def narrative(self) -> str:
        """How it is earned."""
        if self.definition_id:
            return self.criteria
        badge = Badge(self.badge)
        if badge is Badge.CHAMPION:
            return CRITERIA[badge]
        return CRITERIA[badge].format(n=THRESHOLDS[badge][self.tier])

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
            badge.value,
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
