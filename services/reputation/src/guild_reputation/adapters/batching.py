"""Calls made at about the same time, run as one batch: writes and reads of many events in one command.

Handlers of a consumer's batch run concurrently, each awaiting its own ledger write or read. A
``Batcher`` gathers the calls made while the previous batch was in flight (and those made in the same
turn of the event loop) and runs them with one call of its ``run`` function, which answers each call
with its own result or error. It changes only how many store commands carry the work, not what the
work is: every write in a batch is still one guarded single-document update (see ``mongo_ledger``),
so correctness never depends on which calls share a batch, nor on this process being the only one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# Most calls run as one batch (the rest wait for the next).
MAX_BATCH = 512

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
