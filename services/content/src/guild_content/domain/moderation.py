"""Flags and moderators' actions on posts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from guild_common.errors import FailedPrecondition, Validator
from guild_content.domain.posts import PostRef

FLAG_REASONS = ("spam", "offensive", "off_topic", "other")
FLAG_NOTE_MAX = 500
MODERATION_ACTIONS = ("hide", "restore", "lock", "unlock", "delete")
REASON_MAX = 500


@dataclass(frozen=True)
class Flag:
    """One member's flag on a post; a member flags a post once."""

    post: PostRef
    member_id: str
    reason: str
    note: str
    time: datetime

    @classmethod
    def raise_(cls, *, post: PostRef, member_id: str, reason: str, note: str, now: datetime) -> Flag:
        check = Validator()
        check.require(reason in FLAG_REASONS, "reason", "one of spam, offensive, off_topic, other")
        check.require(reason != "other" or bool(note.strip()), "note", "required when the reason is other")
        check.require(len(note) <= FLAG_NOTE_MAX, "note", f"at most {FLAG_NOTE_MAX} characters")
        check.check()
        if member_id == post.author_id:
            raise FailedPrecondition("members cannot flag their own posts", reason="OWN_POST")
        return cls(post, member_id, reason, note.strip(), now)


@dataclass(frozen=True)
class ModerationEntry:
    """One line of the moderation log; ``actor_id`` is empty when flags hid the post."""

    id: str
    post: PostRef
    action: str
    actor_id: str
    reason: str
    time: datetime


def check_moderation(action: str, reason: str) -> None:
    check = Validator()
    check.require(action in MODERATION_ACTIONS, "action", "one of hide, restore, lock, unlock, delete")
    check.require(bool(reason.strip()), "reason", "must not be empty")
    check.require(len(reason) <= REASON_MAX, "reason", f"at most {REASON_MAX} characters")
    check.check()


@dataclass(frozen=True)
class PostFlagged:
    post: PostRef
    reason: str
    flag_count: int
    time: datetime


@dataclass(frozen=True)
class PostHidden:
    post: PostRef
    hidden_by: str
    reason: str
    by_flags: bool
    flag_count: int
    time: datetime


@dataclass(frozen=True)
class PostRestored:
    post: PostRef
    restored_by: str
    reason: str
    time: datetime


@dataclass(frozen=True)
class PostLocked:
    post: PostRef
    locked_by: str
    reason: str
    locked: bool
    time: datetime
