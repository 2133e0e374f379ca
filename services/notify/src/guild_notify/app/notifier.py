"""Delivers a notification on the channels its recipient wants: the inbox (and live streams) and email."""

from __future__ import annotations

from urllib.parse import urlencode

from guild_notify.app.metrics import count_sent
from guild_notify.app.ports import EmailQueue, Inbox, LiveFeed, OutgoingEmail, PreferencesStore
from guild_notify.app.unsubscribe import UnsubscribeTokens
from guild_notify.domain.notifications import Notification
from guild_notify.domain.preferences import Channel
from guild_notify.domain.templates import render_email


class Notifier:
    def __init__(
        self,
        inbox: Inbox,
        preferences: PreferencesStore,
        live: LiveFeed,
        emails: EmailQueue,
        tokens: UnsubscribeTokens,
        unsubscribe_base_url: str,
    ) -> None:
        self._inbox = inbox
        self._preferences = preferences
        self._live = live
        self._emails = emails
        self._tokens = tokens
        self._unsubscribe_base_url = unsubscribe_base_url

    async def deliver(self, n: Notification, *, in_app_allowed: bool = True) -> None:
        """Idempotent: the inbox and the email queue are keyed by the notification id.

        ``in_app_allowed=False`` sends only the email, for a notification the inbox shows otherwise
        (merged on read from one stored copy).
        """
        prefs = await self._preferences.get(n.recipient_id)
        in_app = in_app_allowed and prefs.wants(n.type, n.community_id, Channel.IN_APP)
        if in_app and await self._inbox.add(n) is not None:
            count_sent("in_app", n.type.value)
            self._live.published(n.recipient_id)
        if prefs.wants(n.type, n.community_id, Channel.EMAIL):
            token = self._tokens.issue(n.recipient_id, n.type)
            rendered = render_email(n, f"{self._unsubscribe_base_url}?{urlencode({'token': token})}")
            await self._emails.enqueue(
                OutgoingEmail(
                    id=n.id,
                    to=prefs.email_address,
                    subject=rendered.subject,
                    text=rendered.text,
                    html=rendered.html,
                    create_time=n.create_time,
                )
            )
