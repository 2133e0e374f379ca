"""What every post shares: its reference, text and revisions, mentions, kinds, and the events of
edits, removals and votes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from guild_common.errors import FailedPrecondition, PermissionDenied, Validator
from guild_common.tags import normalise_tags
from guild_common.text import NAME_POLICY, is_clean_name
from guild_content.domain.community import MODERATING_ROLES, MembershipView, Role

TITLE_MAX = 200
BODY_MAX = 20_000
TAGS_MAX = 5
COMMENT_MAX = 2_000
TAG = re.compile(r"^[a-z0-9][a-z0-9+#.-]{0,31}$")


@dataclass(frozen=True)
class PostRef:
    """What events and rules need of a post: a question, an answer or a comment."""

    kind: str
    id: str
    question_id: str
    community_id: str
    author_id: str

    def check_voter(self, voter_id: str) -> None:
        if voter_id == self.author_id:
            raise FailedPrecondition("members cannot vote on their own posts", reason="SELF_VOTE")

    def ensure_may_change(self, by: MembershipView) -> bool:
        """The author or a moderator may edit or delete a post; True when a moderator acts for the author."""
        if by.member_id == self.author_id:
            return False
        if by.role in MODERATING_ROLES:
            return True
        raise PermissionDenied(
            "only the author or a moderator may change this post",
            reason="NOT_AUTHOR",
            metadata={"required_role": Role.MODERATOR.value},
        )


@dataclass(frozen=True)
class Text:
    """The editable text of a post: title and tags belong to questions only."""

    title: str
    body: str
    tags: list[str]


@dataclass(frozen=True)
class Revision:
    """A post's text before an edit; revision 1 is the text as first posted."""

    post_id: str
    number: int
    editor_id: str
    edit_time: datetime
    text: Text


MENTIONS_MAX = 10
_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9][A-Za-z0-9._-]{0,63})")


def mentioned(*texts: str, author_id: str, before: tuple[str, ...] = ()) -> list[str]:
    """Member ids named as ``@id`` in ``texts``, at most 10: not the author, none named in ``before``."""
    earlier = {m.rstrip(".") for text in before for m in _MENTION.findall(text)}
    found: dict[str, None] = {}
    for text in texts:
        for match in _MENTION.findall(text):
            member = match.rstrip(".")
            if member != author_id and member not in earlier:
                found.setdefault(member, None)
    return list(found)[:MENTIONS_MAX]


@dataclass(frozen=True)
class MentionMade:
    mentioned_id: str
    post: PostRef
    time: datetime


@dataclass(frozen=True)
class PostEdited:
    post: PostRef
    editor_id: str
    revision: int
    time: datetime


@dataclass(frozen=True)
class PostRemoved:
    post: PostRef
    removed_by: str
    reason: str
    by_moderator: bool
    time: datetime


@dataclass(frozen=True)
class VoteChanged:
    target: PostRef
    voter_id: str
    previous_value: int
    value: int
    score: int
    time: datetime
    # Tags of the question voted on (for an answer: of its question), for consumers that rank by tag.
    question_tags: tuple[str, ...] = ()


def check_question_text(title: str, body: str, tags: list[str], check: Validator) -> None:
    check.require(bool(title.strip()), "title", "must not be empty")
    check.require(len(title) <= TITLE_MAX, "title", f"at most {TITLE_MAX} characters")
    check.require(is_clean_name(title), "title", NAME_POLICY)
    check.require(len(body) <= BODY_MAX, "body", f"at most {BODY_MAX} characters")
    check.require(len(tags) <= TAGS_MAX, "tags", f"at most {TAGS_MAX} tags")
    for i, tag in enumerate(tags):
        check.require(bool(TAG.match(tag)), f"tags[{i}]", "1-32 of a-z 0-9 + # . -, starting alphanumeric")


def check_body(body: str, check: Validator, maximum: int = BODY_MAX) -> None:
    check.require(bool(body.strip()), "body", "must not be empty")
    check.require(len(body) <= maximum, "body", f"at most {maximum} characters")


# Kinds of top-level post stored alongside questions, sharing their edits, comments, votes and moderation.
TOPIC_KINDS = ("discussion", "article", "announcement")
POST_KINDS = ("question", *TOPIC_KINDS)


def is_question_kind(kind: str) -> bool:
    """Whether a post of ``kind`` is a question proper (stored posts without a kind are)."""
    return kind not in TOPIC_KINDS


EDITABLE = {
    **{kind: ("title", "body", "tags") for kind in POST_KINDS},
    "answer": ("body",),
    "comment": ("body",),
}


def edited_text(kind: str, current: Text, mask: list[str], new: Text) -> Text:
    """The text after an edit of the ``mask`` fields (all the kind has when empty), validated."""
    allowed = EDITABLE[kind]
    check = Validator()
    for path in mask:
        check.require(path in allowed, "update_mask", f"{path!r} cannot be edited on a {kind}")
    check.check()
    fields = set(mask or allowed)
    text = Text(
        title=new.title.strip() if "title" in fields else current.title,
        body=new.body if "body" in fields else current.body,
        tags=normalise_tags(new.tags) if "tags" in fields else current.tags,
    )
    if kind in POST_KINDS:
        check_question_text(text.title, text.body, text.tags, check)
        if kind != "question":
            check_body(text.body, check)
    else:
        check_body(text.body, check, COMMENT_MAX if kind == "comment" else BODY_MAX)
    check.check()
    return text
