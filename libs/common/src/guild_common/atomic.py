"""Read-modify-write of one document made atomic by a version guard.

Most changes are one atomic update (``$inc``, ``$set`` with a guard in the filter, an upsert on a natural
``_id``). A change that must see the document first (a domain rule decides the new state) reads it,
builds the update, and writes it with the version it read in the filter and ``$inc: {version: 1}``. If
another writer (another task, another replica) changed the document in between, the guarded update
matches nothing and the change is built again from the new state. MongoDB and the embedded store both
apply a single-document update atomically, so this is safe with any number of processes.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError
from pymongo.results import UpdateResult

Document = dict[str, Any]

VERSION = "version"
DEFAULT_ATTEMPTS = 32
# After a lost race, wait a random time up to this many seconds, doubling from the first retry up to the
# cap: contenders that keep meeting at the same moment drift apart instead of losing to each other again.
FIRST_BACKOFF_SECONDS = 0.002
MAX_BACKOFF_SECONDS = 0.1


class ConcurrentChange(RuntimeError):
    """Other writers changed the document on every attempt; the caller may retry the request."""


class NoChange:
    """Returned by a builder that leaves the document as it is."""


NO_CHANGE = NoChange()

Builder = Callable[[Document | None], "Mapping[str, Any] | NoChange"]
AsyncBuilder = Callable[[Document | None], Awaitable["Mapping[str, Any] | NoChange"]]


def with_version_bump(update: Mapping[str, Any]) -> Document:
    """``update`` with ``version`` incremented (the guard the next writer checks)."""
    merged: Document = {op: dict(fields) for op, fields in update.items()}
    merged.setdefault("$inc", {})[VERSION] = 1
    return merged


def version_guard(doc: Mapping[str, Any]) -> Document:
    """The filter that matches ``doc`` only while nobody has changed it since it was read."""
    return {"_id": doc["_id"], VERSION: doc.get(VERSION)}


async def update_guarded(
    collection: AsyncCollection[Document],
    doc_id: Any,
    build: Builder | AsyncBuilder,
    *,
    projection: Mapping[str, Any] | None = None,
    attempts: int = DEFAULT_ATTEMPTS,
) -> Document | None:
    """Apply ``build(current)`` to the document ``doc_id`` atomically; return the document after it.

    ``build`` receives the current document (``None`` if there is none) and returns an update document
    (operators; for a missing document it is applied as an upsert) or :data:`NO_CHANGE`. It may raise to
    refuse the change. ``build`` may run more than once, so it must not have side effects.
    ``projection`` limits what ``build`` is given (the version is always read); the document returned
    after a change is whole.
    """
    fields = _with_version(projection)
    for attempt in range(attempts):
        if attempt:
            await _back_off(attempt)
        current = await collection.find_one({"_id": doc_id}, fields)
        built = build(current)
        update = await built if isinstance(built, Awaitable) else built
        if isinstance(update, NoChange):
            return current
        guarded = with_version_bump(update)
        if current is None:
            try:  # matches nothing if another writer created it meanwhile, so the upsert then fails
                await collection.update_one(
                    {"_id": doc_id, VERSION: {"$exists": False}}, guarded, upsert=True
                )
            except DuplicateKeyError:
                continue  # created by another writer in between: build again from its state
            return await collection.find_one({"_id": doc_id}, fields)
        # no projection here: FerretDB 1.24 does not implement one on findAndModify
        after = await collection.find_one_and_update(version_guard(current), guarded, return_document=True)
        if after is not None:
            return after
    raise ConcurrentChange(f"document {str(doc_id)[:64]} changed on each of {attempts} attempts")


async def upsert_by_id(
    collection: AsyncCollection[Document], doc_id: Any, update: Mapping[str, Any]
) -> UpdateResult:
    """``update_one({_id}, update, upsert=True)``, atomic on the document.

    Two writers creating the same document at once may see the loser's insert fail on the ``_id``
    (MongoDB retries that itself only in some cases); the document exists then, so the update is applied
    to it once more, as an update.
    """
    try:
        return await collection.update_one({"_id": doc_id}, dict(update), upsert=True)
    except DuplicateKeyError:
        return await collection.update_one({"_id": doc_id}, dict(update))


async def _back_off(attempt: int) -> None:
    """Sleep a random time that grows with ``attempt`` (full jitter), so retries do not collide again."""
    cap = min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2 ** (attempt - 1))
    await asyncio.sleep(random.uniform(0, cap))


def _with_version(projection: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``projection`` that also reads the version: added to an inclusion, kept by an exclusion."""
    if projection is None:
        return None
    fields = dict(projection)
    if any(value for key, value in fields.items() if key != "_id"):
        fields[VERSION] = 1
    else:
        fields.pop(VERSION, None)
    return fields
