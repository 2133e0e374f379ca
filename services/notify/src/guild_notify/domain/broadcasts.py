"""Broadcasts: community-wide notices stored once and merged into each member's inbox on read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from guild_notify.domain.notifications import Notification, NotificationType

# Who may speak to a whole community.
LEADER_ROLES = frozenset({"owner", "curator", "champion", "moderator"})
PREFIX = "broadcast:"
MAX_TEXT = 2000
# Community-wide notices besides leaders' broadcasts, each with its own in-app preference.
SHARED_TYPES = (NotificationType.SURVEY_OPENED, NotificationType.NEW_CONTENT)


@dataclass(frozen=True)
class Membership:
    community_id: str
    member_id: str
    role: str
    join_time: datetime


@dataclass(frozen=True)
class Broadcast:
    id: str
    community_id: str
    author_id: str
    text: str
    subject_id: str
    create_time: datetime
    # Broadcasts are written by leaders; surveys and shared resources reach a community the same way.
    type: NotificationType = NotificationType.BROADCAST
    # Its position among all broadcasts in the order they were stored (0 before it is stored).
    sequence: int = 0

    @property
    def notification_id(self) -> str:
        """Its id in every member's inbox."""
        return f"{PREFIX}{self.id}"

    def for_member(self, member_id: str, read: bool) -> Notification:
        return Notification(
            id=self.notification_id,
            recipient_id=member_id,
            type=self.type,
            community_id=self.community_id,
            subject_id=self.subject_id or self.id,
            actor_id=self.author_id,
            text=self.text,
            create_time=self.create_time,
            read=read,
        )


def is_broadcast_id(notification_id: str) -> bool:
    return notification_id.startswith(PREFIX)
