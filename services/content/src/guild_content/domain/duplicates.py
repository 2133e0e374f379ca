"""Marking a question a duplicate of an earlier one: the rules, and the event.

The later question points to the earlier one, never the reverse, so pointers cannot form a cycle. A
question marked a duplicate of one that is itself a duplicate points to the root of that chain instead
(the earliest question), so every chain is one step long when it is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from guild_common.errors import FailedPrecondition, FieldViolation, InvalidArgument, Validator
from guild_content.domain.questions import Question

# Longest chain followed to its root (pointers are one step when made; a root marked later adds one).
CHAIN_MAX = 8
ID_MAX = 128


@dataclass(frozen=True)
class DuplicateMarked:
    """A curator marked ``question`` a duplicate of ``duplicate_of`` (or, ``marked`` False, took it back)."""

    question: Question
    duplicate_of: str
    by: str
    marked: bool
    time: datetime


def check_ids(question_id: str, duplicate_of: str) -> None:
    check = Validator()
    for name, value in (("question_id", question_id), ("duplicate_of", duplicate_of)):
        check.require(bool(value), name, "must not be empty")
        check.require(len(value) <= ID_MAX, name, f"at most {ID_MAX} characters")
    check.check()
    if question_id == duplicate_of:
        raise InvalidArgument(
            "a question is not a duplicate of itself",
            violations=[FieldViolation("duplicate_of", "must name another question")],
        )


def ensure_markable(question: Question, original: Question) -> None:
    """``question`` may point to ``original`` (the root of its chain): same community, asked earlier."""
    if original.id == question.id:
        raise FailedPrecondition(
            "the question is the earliest of its duplicates already", reason="DUPLICATE_OF_ITSELF"
        )
    if original.community_id != question.community_id:
        raise FailedPrecondition(
            "a question can only duplicate one of its own community", reason="OTHER_COMMUNITY"
        )
    if (original.create_time, original.id) > (question.create_time, question.id):
        raise FailedPrecondition(
            "the later question points to the earlier one: mark the other one instead", reason="NOT_EARLIER"
        )
