"""Which points an event earns: pure rules, no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from guild_common.errors import Validator
from guild_common.tags import normalise_tags

POINTS_MAX = 1000
DAILY_CAP_MAX = 100_000
CAPPED = "capped"


class Rule(StrEnum):
    QUESTION_ASKED = "question_asked"
    ANSWER_POSTED = "answer_posted"
    ANSWER_ACCEPTED = "answer_accepted"
    ANSWER_ACCEPTED_REVERSED = "answer_accepted_reversed"
    UPVOTE_RECEIVED = "upvote_received"
    UPVOTE_RETRACTED = "upvote_retracted"
    POST_REMOVED = "post_removed"
    # Earned by a collection's curator when someone else follows it.
    COLLECTION_FOLLOWED = "collection_followed"
    # Earned by a resource's author when they share it.
    RESOURCE_SHARED = "resource_shared"
    # Earned by an item's author when someone else rates it 4 or 5 stars; taken back when that
    # rating drops below 4.
    RESOURCE_RATED = "resource_rated"
    RESOURCE_RATED_REVERSED = "resource_rated_reversed"
    # Earned by a member answering a survey, once per survey.
    SURVEY_ANSWERED = "survey_answered"


# Rules whose points a community owner can change.
CONFIGURABLE: tuple[Rule, ...] = (
    Rule.QUESTION_ASKED,
    Rule.ANSWER_POSTED,
    Rule.ANSWER_ACCEPTED,
    Rule.UPVOTE_RECEIVED,
    Rule.COLLECTION_FOLLOWED,
    Rule.RESOURCE_SHARED,
    Rule.RESOURCE_RATED,
    Rule.SURVEY_ANSWERED,
)

# Stars from which a rating earns the item's author points.
GOOD_RATING = 4


@dataclass(frozen=True)
class RuleSetting:
    """Points a rule earns and the most one member can earn by it in a day (0: no cap)."""

    points: int
    daily_cap: int = 0


@dataclass(frozen=True)
class PointsTable:
    """The defaults of this deployment; communities override them rule by rule."""

    question_asked: int = 2
    answer_posted: int = 5
    answer_accepted: int = 15
    upvote_received: int = 10
    collection_followed: int = 3
    resource_shared: int = 5
    resource_rated: int = 3
    survey_answered: int = 2
    daily_caps: Mapping[str, int] = field(default_factory=dict)

    def defaults(self) -> dict[Rule, RuleSetting]:
        points = {
            Rule.QUESTION_ASKED: self.question_asked,
            Rule.ANSWER_POSTED: self.answer_posted,
            Rule.ANSWER_ACCEPTED: self.answer_accepted,
            Rule.UPVOTE_RECEIVED: self.upvote_received,
            Rule.COLLECTION_FOLLOWED: self.collection_followed,
            Rule.RESOURCE_SHARED: self.resource_shared,
            Rule.RESOURCE_RATED: self.resource_rated,
            Rule.SURVEY_ANSWERED: self.survey_answered,
        }
        return {rule: RuleSetting(p, self.daily_caps.get(rule.value, 0)) for rule, p in points.items()}

    def effective(self, overrides: Mapping[str, RuleSetting]) -> dict[Rule, RuleSetting]:
        table = self.defaults()
        for name, setting in overrides.items():
            if name in table:
                table[Rule(name)] = setting
        return table


def validate_overrides(rules: Sequence[tuple[str, int, int]]) -> dict[str, RuleSetting]:
    """Checks (rule, points, daily cap) triples; raises ``InvalidArgument`` naming each bad field."""
    check = Validator()
    check.require(bool(rules), "rules", "must list at least one rule")
    known = {r.value for r in CONFIGURABLE}
    seen: set[str] = set()
    for i, (name, points, cap) in enumerate(rules):
        check.require(name in known, f"rules[{i}].rule", f"one of {', '.join(sorted(known))}")
        check.require(name not in seen, f"rules[{i}].rule", "listed twice")
        seen.add(name)
        check.require(0 <= points <= POINTS_MAX, f"rules[{i}].points", f"between 0 and {POINTS_MAX}")
        check.require(0 <= cap <= DAILY_CAP_MAX, f"rules[{i}].daily_cap", f"between 0 and {DAILY_CAP_MAX}")
    check.check("points rules are invalid")
    return {name: RuleSetting(points, cap) for name, points, cap in rules}


def capped_amount(setting: RuleSetting, earned_today: int) -> tuple[int, bool]:
    """What a gain earns after the daily cap: (amount, whether the cap cut it)."""
    if setting.daily_cap <= 0:
        return setting.points, False
    room = max(setting.daily_cap - earned_today, 0)
    if setting.points <= room:
        return setting.points, False
    return room, True


def rating_earns(stars: int) -> bool:
    """Whether a rating of ``stars`` earns the item's author points."""
    return stars >= GOOD_RATING


def upvote_delta(previous_value: int, value: int) -> int:
    """+1 when an upvote appears, -1 when one goes away, 0 otherwise (downvotes earn nothing)."""
    return int(value == 1) - int(previous_value == 1)


@dataclass(frozen=True)
class LedgerEntry:
    """One append-only ledger line. ``id`` is ``<source event id>:<rule>``: each counts once."""

    id: str
    community_id: str
    member_id: str
    amount: int
    rule: Rule
    source_event_id: str
    target_id: str
    time: datetime
    # Who caused it when that matters for a later reversal (the voter).
    actor_id: str = ""
    # Why the amount differs from the rule's points ("capped").
    reason: str = ""
    # Tags of the post the entry is about.
    tags: tuple[str, ...] = ()

    @classmethod
    def for_event(
        cls,
        *,
        event_id: str,
        rule: Rule,
        community_id: str,
        member_id: str,
        amount: int,
        target_id: str,
        time: datetime,
        actor_id: str = "",
        tags: Sequence[str] = (),
    ) -> LedgerEntry:
        return cls(
            id=f"{event_id}:{rule.value}",
            community_id=community_id,
            member_id=member_id,
            amount=amount,
            rule=rule,
            source_event_id=event_id,
            target_id=target_id,
            time=time,
            actor_id=actor_id,
            tags=tuple(normalise_tags(tags)),
        )

    def capped_to(self, amount: int) -> LedgerEntry:
        return replace(self, amount=amount, reason=CAPPED)


def earns_for_answer(answer_author: str, question_author: str) -> bool:
    """No points from one's own actions on one's own posts."""
    return answer_author != question_author
