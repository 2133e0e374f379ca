"""Unconditional upserts on a natural ``_id`` that survive a concurrent creation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError
from pymongo.results import UpdateResult

from guild_common.mongo import Document


async def upsert_by_id(
    collection: AsyncCollection[Document], _id: Any, update: Mapping[str, Any]
) -> UpdateResult:
    """``update_one({_id}, update, upsert=True)``, atomic on the document. Two writers creating the same
    document at once may see the loser's insert fail on the ``_id`` (MongoDB retries that itself only
    in some cases); the document exists then, so the update is applied to it once more, as an update."""
    try:
        return await collection.update_one({"_id": _id}, dict(update), upsert=True)
    except DuplicateKeyError:
        return await collection.update_one({"_id": _id}, dict(update))
