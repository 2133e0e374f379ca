"""A member's notification preferences: channels per type, muted communities, digest frequency."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import StrEnum

from guild_notify.domain.notifications import TYPES, NotificationType


class Channel(StrEnum):
    IN_APP = "in_app"
    EMAIL = "email"


class DigestFrequency(StrEnum):
    OFF = "off"
    DAILY = "daily"
    WEEKLY = "weekly"


@dataclass(frozen=True)
class Channels:
    in_app: bool
    email: bool

    def allows(self, channel: Channel) -> bool:
        return self.in_app if channel is Channel.IN_APP else self.email


DEFAULT_CHANNELS: dict[NotificationType, Channels] = {
    t: Channels(in_app=info.default_in_app, email=info.default_email) for t, info in TYPES.items()
}
DEFAULT_DIGEST = DigestFrequency.WEEKLY
MAX_MUTED = 500

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def valid_email(address: str) -> bool:
    return len(address) <= 254 and bool(_EMAIL.match(address))


@dataclass(frozen=True)
class Preferences:
    """Only what the member changed is stored; everything else reads as the defaults."""

    member_id: str
    channels: dict[NotificationType, Channels] = field(default_factory=dict)
    muted_community_ids: frozenset[str] = frozenset()
    digest_frequency: DigestFrequency = DEFAULT_DIGEST
    email_address: str = ""
    # No statements of the member's learning activity go to the organisation's Learning Record Store.
    learning_records_opt_out: bool = False

    def channels_for(self, type: NotificationType) -> Channels:
        return self.channels.get(type) or DEFAULT_CHANNELS.get(type, Channels(in_app=True, email=False))

    def effective_channels(self) -> dict[NotificationType, Channels]:
        return {t: self.channels_for(t) for t in NotificationType}

    def wants(self, type: NotificationType, community_id: str, channel: Channel) -> bool:
        """Whether a notification of ``type`` from ``community_id`` goes out on ``channel``."""
        if community_id and community_id in self.muted_community_ids:
            return False
        if channel is Channel.EMAIL and not self.email_address:
            return False
        return self.channels_for(type).allows(channel)

    def with_channels(self, changes: dict[NotificationType, Channels]) -> Preferences:
        return replace(self, channels={**self.channels, **changes})

    def without_email_for(self, type: NotificationType) -> Preferences:
        current = self.channels_for(type)
        return self.with_channels({type: Channels(in_app=current.in_app, email=False)})
