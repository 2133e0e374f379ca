"""Process-wide locks per document, serialising this process's writes to one document.

MongoDB applies each single-document update atomically. FerretDB 1.24 does not: it reads the document,
applies the operators and writes the whole document back, so two concurrent updates of one document can
lose one of them (an outbox clear could undo a counter increment). Every update of a document that more
than one writer touches goes through :func:`document_lock`, which makes such updates safe within a
process on both stores; across processes, MongoDB's own atomicity is what production relies on.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from contextlib import AbstractAsyncContextManager, asynccontextmanager


class DocumentLocks:
    """Locks created on demand and dropped when nobody holds or awaits them."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, Hashable], asyncio.Lock] = {}
        self._users: dict[tuple[str, Hashable], int] = {}

    @asynccontextmanager
    async def hold(self, collection: str, document_id: Hashable) -> AsyncIterator[None]:
        key = (collection, document_id)
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if self._users[key] == 0:
                del self._users[key]
                del self._locks[key]

    def __len__(self) -> int:
        return len(self._locks)


_locks = DocumentLocks()


def document_lock(collection: str, document_id: Hashable) -> AbstractAsyncContextManager[None]:
    """``async with document_lock("questions", question_id): ...`` around an update of that document."""
    return _locks.hold(collection, document_id)
