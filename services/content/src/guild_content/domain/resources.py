"""Shared resources: links, their ratings, reviews and outdated marks."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from guild_common.errors import FailedPrecondition, Validator
from guild_common.tags import normalise_tags
from guild_content.domain.posts import PostRef, check_question_text

if TYPE_CHECKING:
    from guild_content.domain.events import DomainEvent


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
