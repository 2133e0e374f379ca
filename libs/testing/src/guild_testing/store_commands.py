"""Counting the commands a MongoDB client sends, for tests of how many a store operation costs."""

from __future__ import annotations

from collections import Counter

from pymongo import monitoring

# The driver's own traffic: handshakes, monitoring and session clean-up.
NOT_COUNTED = frozenset({"hello", "isMaster", "ismaster", "ping", "endSessions"})


class StoreCommands(monitoring.CommandListener):
    """The names of the commands a client sent (in order), bar the driver's own; pass it to the client's
    ``event_listeners``."""

    def __init__(self) -> None:
        self.names: list[str] = []

    @property
    def sent(self) -> Counter[str]:
        """How many of each command were sent."""
        return Counter(self.names)

    def clear(self) -> None:
        self.names.clear()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name not in NOT_COUNTED:
            self.names.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass
