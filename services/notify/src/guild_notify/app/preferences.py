"""A member's notification preferences: read, changed (their own only), and unsubscribed from by token."""

from __future__ import annotations

from dataclasses import dataclass, replace

from guild_common.auth import Principal
from guild_common.errors import Validator
from guild_notify.app.ports import PreferencesStore
from guild_notify.app.unsubscribe import UnsubscribeTokens
from guild_notify.domain.notifications import NotificationType
from guild_notify.domain.preferences import (
    MAX_MUTED,
    Channels,
    DigestFrequency,
    Preferences,
    valid_email,
)


@dataclass(frozen=True)
class PreferencesChange:
    """The fields of an update, each None when the update mask does not name it."""

    channels: dict[NotificationType, Channels] | None = None
    muted_community_ids: list[str] | None = None
    digest_frequency: DigestFrequency | None = None
    email_address: str | None = None
    learning_records_opt_out: bool | None = None


class PreferenceUseCases:
    def __init__(self, store: PreferencesStore, tokens: UnsubscribeTokens) -> None:
        self._store = store
        self._tokens = tokens

    async def get(self, caller: Principal) -> Preferences:
        return await self._store.get(caller.subject)

    async def update(self, caller: Principal, change: PreferencesChange) -> Preferences:
        check = Validator()
        if change.email_address:
            check.require(
                valid_email(change.email_address), "preferences.email_address", "not an email address"
            )
        if change.muted_community_ids is not None:
            check.require(
                len(change.muted_community_ids) <= MAX_MUTED,
                "preferences.muted_community_ids",
                f"at most {MAX_MUTED} communities",
            )
            check.require(all(change.muted_community_ids), "preferences.muted_community_ids", "empty id")
        check.check()

        def apply(current: Preferences) -> Preferences:
            updated = current
            if change.channels is not None:
                updated = updated.with_channels(change.channels)
            if change.muted_community_ids is not None:
                updated = replace(updated, muted_community_ids=frozenset(change.muted_community_ids))
            if change.digest_frequency is not None:
                updated = replace(updated, digest_frequency=change.digest_frequency)
            if change.email_address is not None:
                updated = replace(updated, email_address=change.email_address)
            if change.learning_records_opt_out is not None:
                updated = replace(updated, learning_records_opt_out=change.learning_records_opt_out)
            return updated

        return await self._store.change(caller.subject, apply)

    async def unsubscribe(self, token: str) -> Preferences:
        """Turn off the email the token was issued for; the token itself is the authority."""
        member_id, topic = self._tokens.verify(token)
        if isinstance(topic, NotificationType):
            return await self._store.change(member_id, lambda p: p.without_email_for(topic))
        return await self._store.change(member_id, lambda p: replace(p, digest_frequency=DigestFrequency.OFF))
