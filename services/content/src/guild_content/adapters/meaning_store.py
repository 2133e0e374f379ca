"""Meaning vectors stored with questions, and the nearest-neighbour candidates read by bucket key.

A question asked stores its vector (``vec``, ``DIM`` signed bytes), its bucket keys (``sim_keys``) and
the earlier questions found meaning the same when it was asked (``similar``: ``{id, s}`` documents,
best first) on the post itself. Its search document (``adapters.search_store``) carries the vector and
the keys, the keys empty while the post is deleted or hidden, so such a post is never a candidate.

A lookup reads, per bucket key, the newest ``limit`` search documents of the community having that key,
from the ``(sim_keys, community_id, create_time, _id)`` multikey index (the store reads ``limit`` small
documents per key, whatever the size of the community), and returns their vectors for an exact cosine.
Every replica computes the same keys (``domain.similarity``), so any replica finds what another stored.
"""

from __future__ import annotations

import asyncio

from pymongo.asynchronous.collection import AsyncCollection

from guild_common.mongo import Document
from guild_content.app.ports import Meaning
from guild_content.domain.posts import TOPIC_KINDS
from guild_content.domain.similarity import Neighbour

VEC = "vec"
SIM_KEYS = "sim_keys"
SIMILAR = "similar"
INDEX = [(SIM_KEYS, 1), ("community_id", 1), ("create_time", -1), ("_id", -1)]


def vector_fields(meaning: Meaning) -> Document:
    """The fields of a question document holding its vector and bucket keys (what an edit changes)."""
    return {VEC: meaning.vector, SIM_KEYS: meaning.keys}


def meaning_fields(meaning: Meaning) -> Document:
    """The fields of a question document holding ``meaning``."""
    return {**vector_fields(meaning), SIMILAR: [{"id": n.id, "s": n.score} for n in meaning.similar]}


def stored_similar(doc: Document) -> list[Neighbour]:
    """The earlier questions a stored question was found meaning the same as, best first."""
    return [Neighbour(str(d["id"]), float(d.get("s", 0.0))) for d in doc.get(SIMILAR) or []]


def search_fields(doc: Document, visible: bool) -> Document:
    """The meaning fields of a post's search document: keys only while it is visible (none at all while
    it is not, even from a post read without its vector)."""
    if not visible:
        return {SIM_KEYS: []}
    vector = doc.get(VEC)
    if not isinstance(vector, bytes):
        return {}
    return {VEC: vector, SIM_KEYS: list(doc.get(SIM_KEYS, []))}


class MeaningIndex:
    """Reads the candidates of a vector's bucket keys from the search documents (``post_search``)."""

    def __init__(self, search: AsyncCollection[Document]) -> None:
        self._search = search

    async def key_entries(self, community_id: str, key: str, limit: int) -> dict[str, bytes]:
        """The vectors of the newest ``limit`` visible questions of the community having ``key``."""
        cursor = (
            self._search.find({SIM_KEYS: key, "community_id": {"$in": [community_id]}}, {VEC: 1, "kind": 1})
            .sort([("create_time", -1), ("_id", -1)])
            .limit(limit)
        )
        return {
            d["_id"]: d[VEC]
            async for d in cursor
            if isinstance(d.get(VEC), bytes) and d.get("kind", "question") not in TOPIC_KINDS
        }

    async def candidates(self, community_id: str, keys: list[str], limit_per_key: int) -> dict[str, bytes]:
        """The union of the candidates of each key (one indexed read per key, at once)."""
        read = await asyncio.gather(*(self.key_entries(community_id, k, limit_per_key) for k in keys))
        found: dict[str, bytes] = {}
        for entries in read:
            found |= entries
        return found
