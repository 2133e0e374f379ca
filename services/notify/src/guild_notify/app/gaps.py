"""Streams a member's notifications in sequence order although they become visible slightly out of it.

A writer takes a sequence, then makes its notification visible; two writers (tasks, replicas) may
finish in the other order, so a reader can see ``n + 1`` before ``n``. A stream sends only what follows
its position without a gap, and waits for a missing number. A number whose writer crashed never
appears: after ``grace`` seconds the stream passes over it (the notification, if repaired later, is
still in the inbox).
"""

from __future__ import annotations

from collections.abc import Sequence

from guild_notify.domain.notifications import Notification


class GapWait:
    def __init__(self, grace: float) -> None:
        self._grace = grace
        self._missing: int | None = None  # the number waited for
        self._since = 0.0

    def ready(self, last: int, batch: Sequence[Notification], now: float) -> list[Notification]:
        """The notifications of ``batch`` (sequences above ``last``, ascending) that may be sent now."""
        sendable: list[Notification] = []
        expected = last + 1
        for n in batch:
            if n.sequence > expected and not self._expired(expected, now):
                break
            sendable.append(n)
            expected = n.sequence + 1
        else:
            self._missing = None
        return sendable

    def waiting(self) -> bool:
        return self._missing is not None

    def _expired(self, missing: int, now: float) -> bool:
        if self._missing != missing:
            self._missing, self._since = missing, now
        return now - self._since >= self._grace
