"""In-process fan-out to open notification streams.

The store is the source of truth: a wake-up only tells a stream to read what follows its last sequence,
so a missed or repeated wake-up can neither lose nor duplicate a notification.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager


class LiveStreams:
    def __init__(self) -> None:
        self._waiting: dict[str, set[asyncio.Event]] = {}

    def published(self, recipient_id: str) -> None:
        for event in self._waiting.get(recipient_id, ()):
            event.set()

    @contextmanager
    def subscribe(self, recipient_id: str) -> Iterator[asyncio.Event]:
        event = asyncio.Event()
        self._waiting.setdefault(recipient_id, set()).add(event)
        try:
            yield event
        finally:
            listeners = self._waiting.get(recipient_id)
            if listeners is not None:
                listeners.discard(event)
                if not listeners:
                    del self._waiting[recipient_id]

    def listeners(self, recipient_id: str) -> int:
        return len(self._waiting.get(recipient_id, ()))
