"""Curation: collections (learning paths) curators build, and items featured on a community's front page."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from guild_common.errors import FailedPrecondition, NotFound, Validator
from guild_common.text import NAME_POLICY, is_clean_name
from guild_content.domain.duplicates import DuplicateMarked
from guild_content.domain.posts import TITLE_MAX
from guild_content.domain.resources import URL_MAX, normalise_url

DESCRIPTION_MAX = 2_000
NOTE_MAX = 500
ITEMS_MAX = 100
ITEM_KINDS = ("post", "link")
FEATURE_KINDS = ("post", "collection")


@dataclass(frozen=True)
class CollectionItem:
    """One step of a collection: a post of the community, or an external link with the curator's note."""

    id: str
    kind: str
    post_id: str
    url: str
    title: str
    note: str
    position: int
    add_time: datetime

    @classmethod
    def new(cls, *, id: str, post_id: str, url: str, title: str, note: str, now: datetime) -> CollectionItem:
        check = Validator()
        check.require(bool(post_id) != bool(url.strip()), "post_id", "give exactly one of post_id and url")
        normal_url = ""
        if url.strip():
            try:
                normal_url = normalise_url(url)
            except ValueError:
                check.require(False, "url", "must be an http or https URL")
            check.require(len(url) <= URL_MAX, "url", f"at most {URL_MAX} characters")
            check.require(bool(title.strip()), "title", "required for a link")
        check.require(len(title) <= TITLE_MAX, "title", f"at most {TITLE_MAX} characters")
        check.require(is_clean_name(title), "title", NAME_POLICY)
        check.require(len(note) <= NOTE_MAX, "note", f"at most {NOTE_MAX} characters")
        check.check()
        kind = "post" if post_id else "link"
        return cls(id, kind, post_id, normal_url, title.strip(), note, 0, now)


@dataclass(frozen=True)
class CollectionPublished:
    collection: Collection
    time: datetime


@dataclass(frozen=True)
class CollectionFollowed:
    collection: Collection
    follower_id: str
    follower_count: int
    time: datetime


@dataclass(frozen=True)
class ItemFeatured:
    feature: Feature


def check_collection_text(title: str, description: str, check: Validator) -> None:
    check.require(bool(title.strip()), "title", "must not be empty")
    check.require(len(title) <= TITLE_MAX, "title", f"at most {TITLE_MAX} characters")
    check.require(is_clean_name(title), "title", NAME_POLICY)
    check.require(len(description) <= DESCRIPTION_MAX, "description", f"at most {DESCRIPTION_MAX} characters")


@dataclass
class Collection:
    """A curated, ordered list of items; members see it once published.

    Items keep an explicit ``position`` (0, 1, ...), always in order and without gaps.
    """

    id: str
    community_id: str
    curator_id: str
    title: str
    description: str
    create_time: datetime
    items: list[CollectionItem] = field(default_factory=list)
    published: bool = False
    publish_time: datetime | None = None
    update_time: datetime | None = None
    follower_count: int = 0
    events: list[CurationEvent] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def create(
        cls, *, id: str, community_id: str, curator_id: str, title: str, description: str, now: datetime
    ) -> Collection:
        check = Validator()
        check_collection_text(title, description, check)
        check.check()
        return cls(id, community_id, curator_id, title.strip(), description, now, update_time=now)

    def add(self, item: CollectionItem, position: int | None, now: datetime) -> CollectionItem:
        """Insert ``item`` at ``position`` (the end when None or past it)."""
        if any(i.id == item.id for i in self.items):
            return next(i for i in self.items if i.id == item.id)
        if len(self.items) >= ITEMS_MAX:
            raise FailedPrecondition(
                f"a collection holds at most {ITEMS_MAX} items", reason="COLLECTION_FULL"
            )
        if item.kind == "post" and any(i.post_id == item.post_id for i in self.items):
            raise FailedPrecondition("the post is in the collection already", reason="ALREADY_IN_COLLECTION")
        ordered = list(self.items)
        at = len(ordered) if position is None or position >= len(ordered) else max(position, 0)
        ordered.insert(at, item)
        self._renumber(ordered, now)
        return self.items[at]

    def remove(self, item_id: str, now: datetime) -> None:
        if not any(i.id == item_id for i in self.items):
            raise NotFound(f"item {item_id} not found in the collection", reason="ITEM_NOT_FOUND")
        self._renumber([i for i in self.items if i.id != item_id], now)

    def reorder(self, item_ids: list[str], now: datetime) -> None:
        """Replace the order with ``item_ids``, which must name every item once."""
        check = Validator()
        check.require(
            sorted(item_ids) == sorted(i.id for i in self.items) and len(set(item_ids)) == len(item_ids),
            "item_ids",
            "must list every item of the collection exactly once",
        )
        check.check()
        by_id = {i.id: i for i in self.items}
        self._renumber([by_id[i] for i in item_ids], now)

    def publish(self, now: datetime) -> bool:
        """Publish; False if it was published already."""
        if self.published:
            return False
        if not self.items:
            raise FailedPrecondition("an empty collection cannot be published", reason="COLLECTION_EMPTY")
        self.published, self.publish_time, self.update_time = True, now, now
        self.events.append(CollectionPublished(self, now))
        return True

    def _renumber(self, ordered: list[CollectionItem], now: datetime) -> None:
        self.items = [replace(item, position=n) for n, item in enumerate(ordered)]
        self.update_time = now


@dataclass
class Feature:
    """A post or collection on a community's front page."""

    community_id: str
    item_kind: str
    item_id: str
    title: str
    author_id: str
    featured_by: str
    feature_time: datetime
    events: list[CurationEvent] = field(default_factory=list, compare=False, repr=False)

    @property
    def id(self) -> str:
        return f"{self.community_id}:{self.item_kind}:{self.item_id}"


CurationEvent = CollectionPublished | CollectionFollowed | ItemFeatured | DuplicateMarked
