"""Tags of posts, kept from the content events that carry them, so ledger entries can name their topic.

One document per post: a question, discussion, article, announcement or resource holds its own tags; an
answer holds its question's id and takes that question's tags, copied onto it (``resolved``) when they
were known as the answer was stored, so reading an answer's tags is one ``_id`` read. Inserted once under
the post id.
"""

from __future__ import annotations

from collections.abc import Sequence

from pymongo.asynchronous.database import AsyncDatabase

from guild_common.mongo import Document, IndexSpec, StoreSchema
from guild_reputation.adapters.batched_writes import Coalesced

POST_TAGS = "post_tags"
INDEXES: list[IndexSpec] = []
SCHEMA = StoreSchema(indexes=INDEXES)


class MongoPostTags:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._tags = db[POST_TAGS]
        self._batched = Coalesced(self._tags)

    async def remember(
        self, post_id: str, tags: Sequence[str], *, question_id: str = "", resolved: bool = False
    ) -> None:
        doc: Document = {"_id": post_id, "tags": list(tags)}
        if question_id:
            doc["question_id"] = question_id
            doc["resolved"] = resolved
        # Refused when stored: posts' tags arrive with their creation only, the stored ones are these.
        await self._batched.insert(doc)

    async def tags_of(self, post_id: str) -> list[str]:
        """The post's tags, an answer's those of its question; empty when the post is unknown."""
        return await self.known_tags(post_id) or []

    async def known_tags(self, post_id: str) -> list[str] | None:
        """The post's tags, an answer's those of its question; None when the post or its question
        is unknown."""
        doc = await self._batched.find_by_id(post_id)
        if doc is None:
            return None
        if doc.get("question_id") and not doc.get("resolved"):
            doc = await self._batched.find_by_id(doc["question_id"], {"tags": 1})
            if doc is None:
                return None
        return [str(tag) for tag in doc.get("tags", [])]
