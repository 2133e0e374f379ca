"""A member's inbox: its pages, groups, unread count, marks and the live stream (their own only)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from guild_common.auth import Principal
from guild_common.errors import FieldViolation, InvalidArgument, NotFound, Validator
from guild_common.pagination import clamp_page_size, decode_token, encode_token
from guild_notify.app.gaps import GapWait
from guild_notify.app.live import LiveStreams
from guild_notify.app.ports import BroadcastStore, Inbox, InboxPage, Memberships, Position, PreferencesStore
from guild_notify.domain.broadcasts import (
    SHARED_TYPES,
    Broadcast,
    is_broadcast_id,
)
from guild_notify.domain.notifications import Notification, NotificationGroup, NotificationType

MARK_MAX = 500
STREAM_BATCH = 100
# How long a stream waits for a missing sequence number before passing over it (see ``app.gaps``).
GAP_GRACE_SECONDS = 5.0
GAP_RECHECK_SECONDS = 0.1


@dataclass(frozen=True)
class StreamItem:
    """A notification for a stream, with the token that resumes after it (both of the stream's
    positions: the member's personal sequence and the broadcast sequence)."""

    notification: Notification
    resume_token: str


def resume_token(sequence: int, broadcast_sequence: int | None = None) -> str:
    position: dict[str, int] = {"s": sequence}
    if broadcast_sequence is not None:
        position["b"] = broadcast_sequence
    return encode_token(position)


def _resume_position(token: str) -> tuple[int, int | None] | None:
    """(personal sequence, broadcast sequence or None for a token from before broadcasts streamed)."""
    position = decode_token(token, "resume_token")
    if not position:
        return None
    sequence, shared = position.get("s"), position.get("b")
    check = Validator()
    valid = isinstance(sequence, int) and sequence >= 0
    valid = valid and (shared is None or (isinstance(shared, int) and shared >= 0))
    check.require(valid, "resume_token", "not a token from this API")
    check.check()
    assert isinstance(sequence, int)
    return sequence, shared if isinstance(shared, int) else None


def _inbox_position(token: str) -> Position | None:
    """The keyset position of a ListNotifications page token (the format of ``guild_common.keyset``)."""
    position = decode_token(token)
    if not position:
        return None
    try:
        return datetime.fromisoformat(position["t"]), str(position["id"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidArgument(
            "invalid page token", violations=[FieldViolation("page_token", "not a token from this API")]
        ) from exc


class InboxUseCases:
    """A member's inbox: personal notifications merged on read with broadcasts to their communities."""

    def __init__(
        self,
        inbox: Inbox,
        live: LiveStreams | None = None,
        poll_seconds: float = 2.0,
        *,
        broadcasts: BroadcastStore | None = None,
        memberships: Memberships | None = None,
        preferences: PreferencesStore | None = None,
        gap_grace_seconds: float = GAP_GRACE_SECONDS,
    ) -> None:
        self._inbox = inbox
        self._gap_grace = gap_grace_seconds
        self._live = live or LiveStreams()
        self._poll = poll_seconds
        self._broadcasts = broadcasts
        self._memberships = memberships
        self._preferences = preferences

    async def _broadcast_view(self, member_id: str) -> tuple[dict[str, datetime], frozenset[str]]:
        """The communities whose broadcasts the member sees, with the time they joined each, and the
        types of community-wide notices the member turned off in the inbox."""
        if self._broadcasts is None or self._memberships is None or self._preferences is None:
            return {}, frozenset()
        prefs = await self._preferences.get(member_id)
        if not prefs.channels_for(NotificationType.BROADCAST).in_app:
            return {}, frozenset()
        hidden = frozenset(t.value for t in SHARED_TYPES if not prefs.channels_for(t).in_app)
        since = {
            m.community_id: m.join_time
            for m in await self._memberships.of_member(member_id)
            if m.community_id not in prefs.muted_community_ids
        }
        return since, hidden

    async def list_notifications(
        self, caller: Principal, unread_only: bool, page_size: int, page_token: str
    ) -> InboxPage:
        size = clamp_page_size(page_size, default=20, maximum=100)
        position = _inbox_position(page_token)
        member = caller.subject
        merged = await self._inbox.page_after(member, unread_only, size + 1, position)
        view, hidden = await self._broadcast_view(member)
        if view and self._broadcasts is not None:
            shared = await self._broadcasts.after(
                member, view, unread_only, size + 1, position, hidden=hidden
            )
            merged += [b.for_member(member, read) for b, read in shared]
            merged.sort(key=lambda n: (n.create_time, n.id), reverse=True)
        page = merged[:size]
        token = ""
        if len(merged) > size:
            last = page[-1]
            token = encode_token({"t": last.create_time.isoformat(), "id": last.id})
        return InboxPage(page, token, await self._unread(member, view, hidden))

    async def _unread(self, member: str, view: dict[str, datetime], hidden: frozenset[str]) -> int:
        personal = await self._inbox.unread_count(member)
        if view and self._broadcasts is not None:
            personal += await self._broadcasts.unread_count(member, view, hidden=hidden)
        return personal

    async def mark_read(self, caller: Principal, ids: list[str]) -> int:
        """Mark all of ``ids`` read, or none if any is not the caller's."""
        unique = list(dict.fromkeys(ids))
        check = Validator()
        check.require(bool(unique), "notification_ids", "must name at least one notification")
        check.require(len(unique) <= MARK_MAX, "notification_ids", f"at most {MARK_MAX} at once")
        check.require(all(unique), "notification_ids", "must not contain empty ids")
        check.check()
        member = caller.subject
        shared = [i for i in unique if is_broadcast_id(i)]
        personal = [i for i in unique if not is_broadcast_id(i)]
        view, hidden = await self._broadcast_view(member) if shared else ({}, frozenset())
        found = await self._inbox.owned(member, personal) if personal else set()
        if shared and self._broadcasts is not None:
            found |= await self._broadcasts.visible_ids(view, shared, hidden=hidden)
        missing = set(unique) - found
        if missing:
            # Another member's notification is indistinguishable from a missing one.
            raise NotFound(
                f"{len(missing)} notification(s) not found",
                reason="NOTIFICATION_NOT_FOUND",
                metadata={"ids": ",".join(sorted(missing)[:20])},
            )
        marked = await self._inbox.mark_read(member, personal) if personal else 0
        if shared and self._broadcasts is not None:
            marked += await self._broadcasts.mark_read(member, view, shared, hidden=hidden)
        return marked

    async def mark_all_read(self, caller: Principal) -> int:
        marked = await self._inbox.mark_all_read(caller.subject)
        view, hidden = await self._broadcast_view(caller.subject)
        if view and self._broadcasts is not None:
            marked += await self._broadcasts.mark_all_read(caller.subject, view, hidden=hidden)
        return marked

    async def unread_count(self, caller: Principal) -> int:
        view, hidden = await self._broadcast_view(caller.subject)
        return await self._unread(caller.subject, view, hidden)

    async def list_groups(
        self, caller: Principal, unread_only: bool, page_size: int, page_token: str
    ) -> tuple[list[NotificationGroup], str]:
        size = clamp_page_size(page_size, default=20, maximum=100)
        return await self._inbox.groups(caller.subject, unread_only, size, page_token)

    async def stream(
        self, caller: Principal, token: str, on_ready: Callable[[], Awaitable[None]] | None = None
    ) -> AsyncIterator[StreamItem]:
        """The caller's notifications after the token's positions (or from now on), as they are stored:
        personal ones by the member's sequence, and notices to the member's communities (broadcasts,
        surveys, new content: stored once for everyone) by the broadcast sequence. Each item carries a
        token holding both positions.

        Reads the store after each wake-up, so nothing between the token and now is skipped and nothing
        is sent twice; a periodic re-read covers writes by other processes. ``on_ready`` runs once the
        stream is listening and its positions are fixed: from then on nothing new is missed.

        The member's communities come from a read model fed by community events, which may lag: a notice
        read before the stream's view held its community is passed over, and sent as soon as the view
        gains the community (each community's notices are read once per range of broadcast positions, so
        none is sent twice). Its token holds the stream's current positions, since it is older than them.
        """
        recipient = caller.subject
        resumed = _resume_position(token)
        shared = self._broadcasts
        with self._live.subscribe(recipient) as woken:
            last = resumed[0] if resumed is not None else await self._inbox.last_sequence(recipient)
            last_shared = 0
            if shared is not None:
                from_token = resumed[1] if resumed is not None else None
                last_shared = from_token if from_token is not None else await shared.last_sequence()
            # The broadcast position up to which each community was read while in the member's view
            # (the stream's start for the others).
            start_shared = last_shared
            read_through: dict[str, int] = {}
            if on_ready is not None:
                await on_ready()
            gaps = GapWait(self._gap_grace)
            while True:
                woken.clear()
                found = await self._inbox.after(recipient, last, STREAM_BATCH)
                batch = gaps.ready(last, found, asyncio.get_running_loop().time())
                for notification in batch:
                    last = notification.sequence
                    yield StreamItem(notification, resume_token(last, last_shared))
                notices: list[tuple[Broadcast, bool]] = []
                if shared is not None:
                    view, hidden = await self._broadcast_view(recipient)
                    self._live.watch(woken, view)
                    # A community new to the view (the membership read model caught up, or it was
                    # unmuted) has notices this stream passed over: those first, in sequence order.
                    missed = await self._passed_over(
                        recipient,
                        view,
                        hidden,
                        {c: read_through.get(c, start_shared) for c in view},
                        last_shared,
                    )
                    for broadcast, read in missed:
                        yield StreamItem(
                            broadcast.for_member(recipient, read), resume_token(last, last_shared)
                        )
                    read_through.update(dict.fromkeys(view, last_shared))
                    # Every broadcast up to ``upto`` is stored: those not visible to the member are
                    # passed over once, not read again on every wake-up.
                    upto = await shared.last_sequence()
                    notices = await shared.stream_after(
                        recipient, view, last_shared, upto, STREAM_BATCH, hidden=hidden
                    )
                    for broadcast, read in notices:
                        last_shared = broadcast.sequence
                        yield StreamItem(
                            broadcast.for_member(recipient, read), resume_token(last, last_shared)
                        )
                    if len(notices) < STREAM_BATCH:
                        last_shared = max(last_shared, upto)
                    read_through.update(dict.fromkeys(view, last_shared))
                if len(batch) == STREAM_BATCH or len(notices) == STREAM_BATCH:
                    continue
                # While a number is missing, look again soon: its writer is usually about to finish.
                timeout = min(self._poll, GAP_RECHECK_SECONDS) if gaps.waiting() else self._poll
                try:
                    await asyncio.wait_for(woken.wait(), timeout=timeout)
                except TimeoutError:
                    pass

    async def _passed_over(
        self,
        recipient: str,
        view: dict[str, datetime],
        hidden: frozenset[str],
        read_through: dict[str, int],
        position: int,
    ) -> list[tuple[Broadcast, bool]]:
        """The notices visible in ``view`` numbered in (``read_through[c]``, ``position``] for each of its
        communities ``c``: passed over while ``c`` was not in the view. In sequence order."""
        assert self._broadcasts is not None
        found: list[tuple[Broadcast, bool]] = []
        for community_id, joined in view.items():
            after = read_through[community_id]
            while after < position:
                page = await self._broadcasts.stream_after(
                    recipient, {community_id: joined}, after, position, STREAM_BATCH, hidden=hidden
                )
                found += page
                if len(page) < STREAM_BATCH:
                    break
                after = page[-1][0].sequence
        found.sort(key=lambda item: item[0].sequence)
        return found
