"""What the inbox needs from storage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from guild_notify.domain.model import Notification


@dataclass(frozen=True)
class InboxPage:
    notifications: list[Notification]
    next_token: str
    unread_count: int


class Inbox(Protocol):
    async def add(self, notification: Notification) -> bool:
        """Store it unless it exists; False for a duplicate."""
        ...

    async def page(
        self, recipient_id: str, unread_only: bool, page_size: int, page_token: str
    ) -> InboxPage: ...

    async def owned(self, recipient_id: str, ids: list[str]) -> set[str]:
        """Which of ``ids`` belong to ``recipient_id``."""
        ...

    async def mark_read(self, recipient_id: str, ids: list[str]) -> int: ...
