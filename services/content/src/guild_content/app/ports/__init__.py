"""What the content use cases need from storage and from other services, one module per aggregate."""

from guild_content.app.ports.community import MembershipDirectory, MembershipStore
from guild_content.app.ports.curation import CurationRepository, FeaturedItems
from guild_content.app.ports.feeds import (
    FeedEntry,
    FeedQuery,
    FeedRepository,
    PersonFollowStore,
    TagFollowResult,
)
from guild_content.app.ports.moderation import ModerationRepository, QueueItem
from guild_content.app.ports.questions import (
    Asked,
    Embedder,
    IndexedQuestion,
    Meaning,
    PostHit,
    QuestionRepository,
    SearchEntry,
    SearchHit,
    StoredHints,
    WaitingItem,
    WaitingQuestion,
)
from guild_content.app.ports.resources import IndexedResource, ResourceRepository

__all__ = [
    "Asked",
    "CurationRepository",
    "Embedder",
    "FeaturedItems",
    "FeedEntry",
    "FeedQuery",
    "FeedRepository",
    "IndexedQuestion",
    "IndexedResource",
    "Meaning",
    "MembershipDirectory",
    "MembershipStore",
    "ModerationRepository",
    "PersonFollowStore",
    "PostHit",
    "QuestionRepository",
    "QueueItem",
    "ResourceRepository",
    "SearchEntry",
    "SearchHit",
    "StoredHints",
    "TagFollowResult",
    "WaitingItem",
    "WaitingQuestion",
]
