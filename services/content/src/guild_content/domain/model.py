"""Questions and answers: pure domain objects and their rules."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from guild_common.errors import FailedPrecondition, PermissionDenied, Validator
from guild_common.tags import normalise_tags
from guild_common.text import NAME_POLICY, is_clean_name

TITLE_MAX = 200
BODY_MAX = 20_000
TAGS_MAX = 5
COMMENT_MAX = 2_000
TAG = re.compile(r"^[a-z0-9][a-z0-9+#.-]{0,31}$")


class Role(StrEnum):
    MEMBER = "member"
    CHAMPION = "champion"
    CURATOR = "curator"
    MODERATOR = "moderator"
    OWNER = "owner"


MODERATING_ROLES = frozenset({Role.MODERATOR, Role.OWNER})


@dataclass(frozen=True)
class CommunityView:
    """What content knows of a community, learnt from community events."""

    id: str
    region: str
    programme: str
    lifecycle: str
    visibility: str
    # Distinct flags that hide a post pending review; 0 while unknown (the service's default applies).
    flag_threshold: int = 0

    def ensure_writable(self) -> None:
        if self.lifecycle == "archived":
            raise FailedPrecondition("the community is archived and read-only", reason="COMMUNITY_ARCHIVED")


@dataclass(frozen=True)
class MembershipView:
    community_id: str
    member_id: str
    role: Role


@dataclass(frozen=True)
class QuestionAsked:
    question: Question


@dataclass(frozen=True)
class PostCreated:
    """A discussion, article or announcement was posted (questions announce themselves as QuestionAsked)."""

    post: Question


@dataclass(frozen=True)
class AnswerPosted:
    answer: Answer
    question: Question


@dataclass(frozen=True)
class AnswerAccepted:
    answer: Answer
    question: Question
    accepted_by: str
    time: datetime


@dataclass(frozen=True)
class AnswerUnaccepted:
    answer_id: str
    answer_author_id: str
    question: Question
    unaccepted_by: str
    time: datetime


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


def ensure_moderator(by: MembershipView) -> None:
    if by.role not in MODERATING_ROLES:
        raise PermissionDenied(
            "only moderators may do this",
            reason="NOT_A_MODERATOR",
            metadata={"required_role": Role.MODERATOR.value},
        )


def check_moderation(action: str, reason: str) -> None:
    check = Validator()
    check.require(action in MODERATION_ACTIONS, "action", "one of hide, restore, lock, unlock, delete")
    check.require(bool(reason.strip()), "reason", "must not be empty")
    check.require(len(reason) <= REASON_MAX, "reason", f"at most {REASON_MAX} characters")
    check.check()


def ensure_unlocked(post: Question | Answer | Comment) -> None:
    if post.locked:
        raise FailedPrecondition("the post is locked by a moderator", reason="POST_LOCKED")


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
class CommentPosted:
    comment: Comment
    post: PostRef


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


ANNOUNCING_ROLES = frozenset({Role.MODERATOR, Role.OWNER})
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


@dataclass
class Question:
    id: str
    community_id: str
    author_id: str
    title: str
    body: str
    tags: list[str]
    create_time: datetime
    answer_count: int = 0
    accepted_answer_id: str = ""
    score: int = 0
    version: int = 1
    update_time: datetime | None = None
    edit_count: int = 0
    deleted: bool = False
    hidden: bool = False
    locked: bool = False
    # question, or one of TOPIC_KINDS: a post that is not a question has no answers, only comments.
    kind: str = "question"
    # The earlier question this one was marked a duplicate of by a curator; empty when none.
    duplicate_of: str = ""
    events: list[DomainEvent] = field(default_factory=list, compare=False, repr=False)

    @property
    def text(self) -> Text:
        return Text(self.title, self.body, self.tags)

    @classmethod
    def ask(
        cls,
        *,
        id: str,
        community_id: str,
        author_id: str,
        title: str,
        body: str,
        tags: list[str],
        now: datetime,
    ) -> Question:
        normal_tags = normalise_tags(tags)
        check = Validator()
        check_question_text(title, body, normal_tags, check)
        check.check()
        question = cls(
            id=id,
            community_id=community_id,
            author_id=author_id,
            title=title.strip(),
            body=body,
            tags=normal_tags,
            create_time=now,
        )
        question.events.append(QuestionAsked(question))
        return question

    def ref(self) -> PostRef:
        return PostRef(self.kind, self.id, self.id, self.community_id, self.author_id)

    @classmethod
    def create(
        cls,
        *,
        kind: str,
        id: str,
        community_id: str,
        author_id: str,
        title: str,
        body: str,
        tags: list[str],
        by: MembershipView,
        now: datetime,
    ) -> Question:
        """A new post of any of POST_KINDS; announcements come from owners and moderators only."""
        check = Validator()
        check.require(kind in POST_KINDS, "kind", "one of " + ", ".join(POST_KINDS))
        check.check()
        if kind == "question":
            return cls.ask(
                id=id,
                community_id=community_id,
                author_id=author_id,
                title=title,
                body=body,
                tags=tags,
                now=now,
            )
        if kind == "announcement" and by.role not in ANNOUNCING_ROLES:
            raise PermissionDenied(
                "only owners and moderators may post announcements",
                reason="NOT_A_MODERATOR",
                metadata={"required_role": Role.MODERATOR.value},
            )
        normal_tags = normalise_tags(tags)
        check_question_text(title, body, normal_tags, check)
        check_body(body, check)
        check.check()
        post = cls(
            id=id,
            community_id=community_id,
            author_id=author_id,
            title=title.strip(),
            body=body,
            tags=normal_tags,
            create_time=now,
            kind=kind,
        )
        post.events.append(PostCreated(post))
        return post

    def withdraw(self, answer: Answer, by: str, now: datetime) -> bool:
        """Withdraw the acceptance of ``answer`` (it is being removed); False if it was not accepted."""
        if self.accepted_answer_id != answer.id:
            return False
        self.accepted_answer_id = ""
        self.events.append(AnswerUnaccepted(answer.id, answer.author_id, self, by, now))
        return True

    def answer(self, *, id: str, author_id: str, body: str, now: datetime) -> Answer:
        check = Validator()
        check_body(body, check)
        check.check()
        answer = Answer(
            id=id,
            question_id=self.id,
            community_id=self.community_id,
            author_id=author_id,
            body=body,
            create_time=now,
        )
        answer.events.append(AnswerPosted(answer, self))
        return answer

    def accept(self, answer: Answer, by: MembershipView, *, previous_author_id: str, now: datetime) -> bool:
        """Accept ``answer``; False if it already is. Only the asker or a moderator may."""
        if by.member_id != self.author_id and by.role not in MODERATING_ROLES:
            raise PermissionDenied("only the asker or a moderator may accept an answer", reason="NOT_ASKER")
        if answer.question_id != self.id:
            raise FailedPrecondition("the answer belongs to another question", reason="ANSWER_MISMATCH")
        if self.accepted_answer_id == answer.id:
            return False
        if self.accepted_answer_id:
            self.events.append(
                AnswerUnaccepted(self.accepted_answer_id, previous_author_id, self, by.member_id, now)
            )
        self.accepted_answer_id = answer.id
        self.events.append(AnswerAccepted(answer, self, by.member_id, now))
        return True


@dataclass
class Answer:
    id: str
    question_id: str
    community_id: str
    author_id: str
    body: str
    create_time: datetime
    score: int = 0
    version: int = 1
    update_time: datetime | None = None
    edit_count: int = 0
    deleted: bool = False
    hidden: bool = False
    locked: bool = False
    events: list[DomainEvent] = field(default_factory=list, compare=False, repr=False)

    kind = "answer"

    @property
    def text(self) -> Text:
        return Text("", self.body, [])

    def ref(self) -> PostRef:
        return PostRef("answer", self.id, self.question_id, self.community_id, self.author_id)


@dataclass
class Comment:
    id: str
    post_id: str
    post_kind: str
    question_id: str
    community_id: str
    author_id: str
    body: str
    create_time: datetime
    version: int = 1
    update_time: datetime | None = None
    edit_count: int = 0
    deleted: bool = False
    hidden: bool = False
    locked: bool = False
    events: list[DomainEvent] = field(default_factory=list, compare=False, repr=False)

    kind = "comment"

    @classmethod
    def post(cls, *, id: str, on: PostRef, author_id: str, body: str, now: datetime) -> Comment:
        check = Validator()
        check_body(body, check, COMMENT_MAX)
        check.check()
        comment = cls(
            id=id,
            post_id=on.id,
            post_kind=on.kind,
            question_id=on.question_id,
            community_id=on.community_id,
            author_id=author_id,
            body=body,
            create_time=now,
        )
        comment.events.append(CommentPosted(comment, on))
        return comment

    @property
    def text(self) -> Text:
        return Text("", self.body, [])

    def ref(self) -> PostRef:
        return PostRef("comment", self.id, self.question_id, self.community_id, self.author_id)


Post = Question | Answer | Comment


MEDIA_TYPES = ("article", "video", "course", "book", "podcast", "tool", "other")
URL_MAX = 2048
SUMMARY_MAX = 2_000
REVIEW_MAX = 2_000
_TRACKING = frozenset({"fbclid", "gclid", "mc_cid", "mc_eid"})


def normalise_url(raw: str) -> str:
    """The canonical form of an http(s) URL; ValueError when it is not one.

    Lowercase scheme and host, no default port, no fragment, no tracking parameters, no trailing slash.
    """
    parts = urlsplit(raw.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname or parts.username or " " in raw.strip():
        raise ValueError("not an http(s) URL")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError("not an http(s) URL: bad port") from exc
    default = (scheme, port) in (("http", 80), ("https", 443))
    netloc = host if port is None or default else f"{host}:{port}"
    path = re.sub(r"/+$", "", parts.path) or "/"
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith("utm_") and k.lower() not in _TRACKING
    ]
    return urlunsplit((scheme, netloc, path, urlencode(query), ""))


@dataclass(frozen=True)
class RatingSummary:
    average: float = 0.0
    count: int = 0
    distribution: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)

    @property
    def score(self) -> int:
        """A vote-like score for ranking beside posts: a 4 or 5 counts up, a 1 or 2 down, a 3 neither."""
        d = self.distribution
        return d[3] + d[4] - d[0] - d[1]

    @classmethod
    def of(cls, by_stars: dict[int, int]) -> RatingSummary:
        """From the number of ratings per star value."""
        d = tuple(by_stars.get(stars, 0) for stars in range(1, 6))
        count = sum(d)
        total = sum(stars * n for stars, n in zip(range(1, 6), d, strict=True))
        return cls(round(total / count, 4) if count else 0.0, count, (d[0], d[1], d[2], d[3], d[4]))


CURATING_ROLES = frozenset({Role.CURATOR, Role.MODERATOR, Role.OWNER})
CHAMPIONING_ROLES = frozenset({Role.CHAMPION, *CURATING_ROLES})


def ensure_champion(by: MembershipView) -> None:
    if by.role not in CHAMPIONING_ROLES:
        raise PermissionDenied(
            "only champions, curators and moderators may do this",
            reason="NOT_A_CHAMPION",
            metadata={"required_role": Role.CHAMPION.value},
        )


def ensure_curator(by: MembershipView) -> None:
    if by.role not in CURATING_ROLES:
        raise PermissionDenied(
            "only curators and moderators may do this",
            reason="NOT_A_CURATOR",
            metadata={"required_role": Role.CURATOR.value},
        )


@dataclass(frozen=True)
class Review:
    item_id: str
    rater_id: str
    stars: int
    review: str
    rate_time: datetime


@dataclass(frozen=True)
class ResourceShared:
    resource: Resource


@dataclass(frozen=True)
class ItemMarkedOutdated:
    item: PostRef
    member_id: str
    outdated_count: int
    time: datetime


@dataclass(frozen=True)
class ItemRated:
    item: PostRef
    rater_id: str
    stars: int
    previous_stars: int
    rating: RatingSummary
    time: datetime


@dataclass
class Resource:
    id: str
    community_id: str
    author_id: str
    url: str
    title: str
    summary: str
    media_type: str
    tags: list[str]
    create_time: datetime
    rating: RatingSummary = field(default_factory=RatingSummary)
    outdated_count: int = 0
    events: list[DomainEvent] = field(default_factory=list, compare=False, repr=False)

    kind = "resource"

    @classmethod
    def share(
        cls,
        *,
        id: str,
        community_id: str,
        author_id: str,
        url: str,
        title: str,
        summary: str,
        media_type: str,
        tags: list[str],
        now: datetime,
    ) -> Resource:
        check = Validator()
        normal_url = ""
        try:
            normal_url = normalise_url(url)
        except ValueError:
            check.require(False, "url", "must be an http or https URL")
        check.require(len(url) <= URL_MAX, "url", f"at most {URL_MAX} characters")
        normal_tags = normalise_tags(tags)
        check_question_text(title, "", normal_tags, check)
        check.require(len(summary) <= SUMMARY_MAX, "summary", f"at most {SUMMARY_MAX} characters")
        media = media_type.strip().lower() or "other"
        check.require(media in MEDIA_TYPES, "media_type", "one of " + ", ".join(MEDIA_TYPES))
        check.check()
        resource = cls(
            id=id,
            community_id=community_id,
            author_id=author_id,
            url=normal_url,
            title=title.strip(),
            summary=summary,
            media_type=media,
            tags=normal_tags,
            create_time=now,
        )
        resource.events.append(ResourceShared(resource))
        return resource

    def ref(self) -> PostRef:
        return PostRef("resource", self.id, "", self.community_id, self.author_id)

    def check_rating(self, rater_id: str, stars: int, review: str) -> None:
        check = Validator()
        check.require(1 <= stars <= 5, "stars", "1 to 5")
        check.require(len(review) <= REVIEW_MAX, "review", f"at most {REVIEW_MAX} characters")
        check.check()
        if rater_id == self.author_id:
            raise FailedPrecondition("members cannot rate what they shared", reason="OWN_ITEM")


@dataclass(frozen=True)
class TagFollowed:
    """A member started following a tag (not tied to a community)."""

    member_id: str
    tag: str
    time: datetime


@dataclass(frozen=True)
class TagUnfollowed:
    member_id: str
    tag: str
    time: datetime


MemberEvent = TagFollowed | TagUnfollowed

DomainEvent = (
    QuestionAsked
    | PostCreated
    | AnswerPosted
    | AnswerAccepted
    | AnswerUnaccepted
    | VoteChanged
    | CommentPosted
    | PostEdited
    | PostRemoved
    | PostFlagged
    | PostHidden
    | PostRestored
    | PostLocked
    | MentionMade
    | ResourceShared
    | ItemRated
    | ItemMarkedOutdated
)
