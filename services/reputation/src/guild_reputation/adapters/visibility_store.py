"""Each community's visibility as reputation knows it: a read model fed by the community service's
``community_created`` and ``community_updated`` events."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.mongo import Document, IndexSpec, StoreSchema

VISIBILITY = "community_visibility"
HIDDEN = "hidden"
INDEXES = [IndexSpec(VISIBILITY, [("visibility", 1)])]
SCHEMA = StoreSchema(indexes=INDEXES)
# How long one process keeps the set of hidden communities before reading it again.
HIDDEN_CACHE_SECONDS = 2.0


class VisibilityReadModel:
    """One document per community (``_id`` the community id); a change applies only if newer."""

    def __init__(
        self,
        db: AsyncDatabase[Document],
        *,
        cache_seconds: float = HIDDEN_CACHE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._communities = db[VISIBILITY]
        self._cache_seconds = cache_seconds
        self._monotonic = monotonic
        self._hidden: frozenset[str] = frozenset()
        self._read_at: float | None = None

    async def put(self, community_id: str, visibility: str, as_of: datetime) -> None:
        try:  # one conditional upsert: an older change never overwrites a newer one
            await self._communities.update_one(
                {"_id": community_id, "as_of": {"$lt": as_of}},
                {"$set": {"visibility": visibility, "as_of": as_of}},
                upsert=True,
            )
        except DuplicateKeyError:
            pass  # a newer change is stored already
        self._read_at = None

    async def visibility(self, community_id: str) -> str | None:
        """The community's visibility name (open, request_to_join, invite_only, hidden), or None when
        reputation has not heard of the community being created."""
        doc = await self._communities.find_one({"_id": community_id}, {"visibility": 1})
        return None if doc is None else str(doc["visibility"])

    async def hidden_ids(self) -> frozenset[str]:
        """Every hidden community, read at most once per ``cache_seconds`` in this process."""
        now = self._monotonic()
        if self._read_at is None or now - self._read_at >= self._cache_seconds:
            cursor = self._communities.find({"visibility": HIDDEN}, {"_id": 1})
            self._hidden = frozenset([str(doc["_id"]) async for doc in cursor])
            self._read_at = now
        return self._hidden
