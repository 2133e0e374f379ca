"""Which points an event earns: pure rules, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Rule(StrEnum):
    QUESTION_ASKED = "question_asked"
    ANSWER_POSTED = "answer_posted"
    ANSWER_ACCEPTED = "answer_accepted"
    ANSWER_ACCEPTED_REVERSED = "answer_accepted_reversed"


@dataclass(frozen=True)
class PointsTable:
    question_asked: int = 2
    answer_posted: int = 5
    answer_accepted: int = 15


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
        )


def earns_for_answer(answer_author: str, question_author: str) -> bool:
    """No points from one's own actions on one's own posts."""
    return answer_author != question_author
