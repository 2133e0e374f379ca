"""Stand-ins for what a ``ServiceServer`` runs beside its gRPC server, for tests of the server itself."""

from __future__ import annotations

import asyncio


class IdleWorker:
    """A background worker that does nothing until stopped (the server's workers run until stopped)."""

    def __init__(self) -> None:
        self.stopped = asyncio.Event()

    async def run(self) -> None:
        await self.stopped.wait()

    def stop(self) -> None:
        self.stopped.set()


def raw_bytes(data: bytes) -> bytes:
    """Identity (de)serializer for generic gRPC handlers and calls that carry raw bytes."""
    return data
