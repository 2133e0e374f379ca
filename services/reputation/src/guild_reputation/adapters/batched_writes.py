"""Calls made at about the same time, run as one batch: writes and reads of many events in one command.

Handlers of a consumer's batch run concurrently, each awaiting its own ledger write or read. A
``Batcher`` gathers the calls made while the previous batch was in flight (and those made in the same
turn of the event loop) and runs them with one call of its ``run`` function, which answers each call
with its own result or error. It changes only how many store commands carry the work, not what the
work is: every write in a batch is still one guarded single-document update (see ``ledger_store``),
so correctness never depends on which calls share a batch, nor on this process being the only one.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, OperationFailure

from guild_common.mongo import Document

T = TypeVar("T")
R = TypeVar("R")

# Most calls run as one batch (the rest wait for the next).
MAX_BATCH = 512
DUPLICATE_KEY = 11000

Run = Callable[[list[T]], Awaitable[Sequence["R | BaseException"]]]


class Batcher(Generic[T, R]):
    def __init__(self, run: Run[T, R], *, max_batch: int = MAX_BATCH) -> None:
        """``run`` gets the items of a batch and returns one result or exception per item, in order
        (raising fails every item of the batch with that error)."""
        self._run = run
        self._max = max_batch
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._worker: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """Run ``item`` in the next batch; its result, or its error raised."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._queue.append((item, future))
        if self._worker is None or self._worker.done() or self._worker.get_loop() is not loop:
            self._worker = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._queue:
            await asyncio.sleep(0)  # the calls made in this turn of the loop join the batch
            batch, self._queue = self._queue[: self._max], self._queue[self._max :]
            live = [(item, future) for item, future in batch if not future.done()]
            if not live:
                continue
            try:
                results: Sequence[R | BaseException] = await self._run([item for item, _ in live])
            except asyncio.CancelledError:
                for _, future in live:
                    future.cancel()
                raise
            except Exception as exc:
                results = [exc] * len(live)
            for (_, future), result in zip(live, results, strict=True):
                if future.done():
                    continue  # its caller gave up waiting
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)


def _projection_key(projection: Mapping[str, Any] | None) -> tuple[tuple[str, Any], ...] | None:
    return None if projection is None else tuple(sorted(projection.items()))


class Coalesced:
    """One collection's reads by ``_id``, inserts and updates that cannot fail, each sent with the same
    calls made at the same time: one ``find`` by ``{_id: {$in}}`` per projection, one unordered
    ``insert_many`` (a duplicate ``_id`` fails its own document only), one ordered ``update``
    command. Each call still means what it means alone (an insert is refused for a duplicate key, an
    update is one atomic single-document update); what the updates are must make them unable to fail
    (upserts on the ``_id`` alone, or updates without upsert), since the embedded store ends an
    ``update`` command at its first error without saying which statement failed."""

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._collection = collection
        self._finds: Batcher[tuple[Any, Mapping[str, Any] | None], Document | None] = Batcher(self._find)
        self._inserts: Batcher[Document, bool] = Batcher(self._insert)
        self._updates: Batcher[Document, None] = Batcher(self._update)

    async def find_by_id(self, doc_id: Any, projection: Mapping[str, Any] | None = None) -> Document | None:
        """``find_one({_id: doc_id}, projection)``."""
        return await self._finds.submit((doc_id, projection))

    async def insert(self, doc: Document) -> bool:
        """``insert_one(doc)``; False when its ``_id`` is stored already."""
        return await self._inserts.submit(doc)

    async def update(
        self, filter: Mapping[str, Any], update: Mapping[str, Any], *, upsert: bool = False
    ) -> None:
        """``update_one(filter, update, upsert=upsert)``, for an update that cannot fail (see above)."""
        await self._updates.submit({"q": dict(filter), "u": dict(update), "upsert": upsert})

    async def _find(self, requests: list[tuple[Any, Mapping[str, Any] | None]]) -> list[Document | None]:
        groups: dict[Any, tuple[Mapping[str, Any] | None, list[Any]]] = {}
        for doc_id, projection in requests:
            groups.setdefault(_projection_key(projection), (projection, []))[1].append(doc_id)
        found: dict[tuple[Any, Any], Document] = {}
        for group, (projection, ids) in groups.items():
            query = {"_id": ids[0]} if len(set(ids)) == 1 else {"_id": {"$in": list(dict.fromkeys(ids))}}
            async for doc in self._collection.find(query, projection):
                found[(group, doc["_id"])] = doc
        results: list[Document | None] = []
        given: set[tuple[Any, Any]] = set()
        for doc_id, projection in requests:
            key = (_projection_key(projection), doc_id)
            stored = found.get(key)
            # Each caller gets its own copy of a document read for several.
            results.append(copy.deepcopy(stored) if stored is not None and key in given else stored)
            given.add(key)
        return results

    async def _insert(self, docs: list[Document]) -> list[bool]:
        inserted = [True] * len(docs)
        try:
            await self._collection.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            for error in exc.details.get("writeErrors", []):
                if error.get("code") != DUPLICATE_KEY:
                    raise
                inserted[error["index"]] = False
        return inserted

    async def _update(self, statements: list[Document]) -> list[None]:
        await update_in_order(self._collection, statements)
        return [None] * len(statements)


async def update_in_order(collection: AsyncCollection[Document], statements: list[Document]) -> None:
    """Send update statements (``{q, u, upsert}``) as one ordered ``update`` command (``bulk_write``
    cannot read the embedded store's reply when a statement fails); raises if one failed."""
    reply = await collection.database.command(
        {"update": collection.name, "updates": statements, "ordered": True}
    )
    errors = reply.get("writeErrors") or []
    if errors:
        raise OperationFailure(f"update of {collection.name} failed: {errors[0].get('errmsg', '')[:200]}")
