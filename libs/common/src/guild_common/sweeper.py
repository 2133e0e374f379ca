"""Workers that are woken when work is queued and also sweep on a timer (outbox relay, email, webhooks)."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod

import structlog

log = structlog.get_logger("guild.worker")

# A dependency that comes back is found within this long (NATS after an outage: the relay catches up).
MAX_FAILURE_DELAY_SECONDS = 4.0


class SweepingWorker(ABC):
    """Runs :meth:`sweep` until stopped: again at once while it reports more work, otherwise when woken,
    when the next scheduled item falls due, or after ``sweep_seconds``. A failing sweep (a dependency is
    down) is retried with exponential backoff."""

    def __init__(self, *, sweep_seconds: float) -> None:
        self._sweep_seconds = sweep_seconds
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def wake(self) -> None:
        """Ask the worker to sweep now (called after each write that queued work)."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    @abstractmethod
    async def sweep(self) -> bool:
        """One pass over the due work; True when more is due at once."""

    async def seconds_until_due(self) -> float | None:
        """Seconds until the next scheduled item falls due, if the worker knows; None otherwise."""
        return None

    async def run(self) -> None:
        failures = 0
        while not self.stopping:
            self._wake.clear()
            try:
                more = await self.sweep()
                failures = 0
            except Exception as exc:
                failures += 1
                more = False
                log.warning("sweep failed; will retry", worker=type(self).__name__, error=repr(exc))
            if self.stopping:
                break
            if more:
                continue
            await self._idle(await self._idle_seconds(failures))

    async def _idle_seconds(self, failures: int) -> float:
        if failures:
            return float(min(self._sweep_seconds * 2 ** min(failures, 5), MAX_FAILURE_DELAY_SECONDS))
        try:
            due_in = await self.seconds_until_due()
        except Exception:
            due_in = None
        return self._sweep_seconds if due_in is None else max(0.0, min(self._sweep_seconds, due_in))

    async def _idle(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        except TimeoutError:
            pass
