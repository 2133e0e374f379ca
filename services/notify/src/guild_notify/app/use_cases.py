"""Inbox use cases: a member reads and marks only their own notifications."""

from __future__ import annotations

from guild_common.auth import Principal
from guild_common.errors import NotFound, Validator
from guild_common.pagination import clamp_page_size
from guild_notify.app.ports import Inbox, InboxPage

MARK_MAX = 500


class InboxUseCases:
    def __init__(self, inbox: Inbox) -> None:
        self._inbox = inbox

    async def list_notifications(
        self, caller: Principal, unread_only: bool, page_size: int, page_token: str
    ) -> InboxPage:
        size = clamp_page_size(page_size, default=20, maximum=100)
        return await self._inbox.page(caller.subject, unread_only, size, page_token)

    async def mark_read(self, caller: Principal, ids: list[str]) -> int:
        """Mark all of ``ids`` read, or none if any is not the caller's."""
        unique = list(dict.fromkeys(ids))
        check = Validator()
        check.require(bool(unique), "notification_ids", "must name at least one notification")
        check.require(len(unique) <= MARK_MAX, "notification_ids", f"at most {MARK_MAX} at once")
        check.require(all(unique), "notification_ids", "must not contain empty ids")
        check.check()
        missing = set(unique) - await self._inbox.owned(caller.subject, unique)
        if missing:
            # Another member's notification is indistinguishable from a missing one.
            raise NotFound(
                f"{len(missing)} notification(s) not found",
                reason="NOTIFICATION_NOT_FOUND",
                metadata={"ids": ",".join(sorted(missing)[:20])},
            )
        return await self._inbox.mark_read(caller.subject, unique)
