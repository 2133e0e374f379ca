"""In-process fan-out to open notification streams.

The store is the source of truth: a wake-up only tells a stream to read what follows its positions, so
a missed or repeated wake-up can neither lose nor duplicate a notification. A stream is woken for its
member's personal notifications and for notices to the communities it watches (one wake-up per open
stream of the community, no write per member).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from contextlib import contextmanager


class LiveStreams:
    def __init__(self) -> None:
        self._waiting: dict[str, set[asyncio.Event]] = {}
        self._by_community: dict[str, set[asyncio.Event]] = {}
        self._watched: dict[asyncio.Event, frozenset[str]] = {}

    def published(self, recipient_id: str) -> None:
        for event in self._waiting.get(recipient_id, ()):
            event.set()

    def community_published(self, community_id: str) -> None:
        """Wake the streams watching the community: a notice to all its members is stored."""
        for event in self._by_community.get(community_id, ()):
            event.set()

    @contextmanager
    def subscribe(self, recipient_id: str) -> Iterator[asyncio.Event]:
        event = asyncio.Event()
        self._waiting.setdefault(recipient_id, set()).add(event)
        try:
            yield event
        finally:
            self.watch(event, ())
            listeners = self._waiting.get(recipient_id)
            if listeners is not None:
                listeners.discard(event)
                if not listeners:
                    del self._waiting[recipient_id]

    def watch(self, event: asyncio.Event, community_ids: Iterable[str]) -> None:
        """Wake ``event`` (a subscription's) for notices to these communities from now on, instead of
        the ones it watched before."""
        wanted = frozenset(community_ids)
        before = self._watched.pop(event, frozenset())
        for community_id in before - wanted:
            streams = self._by_community.get(community_id)
            if streams is not None:
                streams.discard(event)
                if not streams:
                    del self._by_community[community_id]
        for community_id in wanted - before:
            self._by_community.setdefault(community_id, set()).add(event)
        if wanted:
            self._watched[event] = wanted

    def listeners(self, recipient_id: str) -> int:
        return len(self._waiting.get(recipient_id, ()))

    def watchers(self, community_id: str) -> int:
        return len(self._by_community.get(community_id, ()))
