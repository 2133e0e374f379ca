"""Email templates for one notification: a plain-text and an HTML part."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from guild_notify.domain.notifications import TYPES, Notification


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def render_email(notification: Notification, unsubscribe_url: str) -> RenderedEmail:
    subject = TYPES[notification.type].email_subject
    text = (
        f"{notification.text}\n\n"
        "You receive this email because of your Guild notification settings.\n"
        f"Stop these emails: {unsubscribe_url}\n"
    )
    html = (
        "<!doctype html><html><body>"
        f"<p>{escape(notification.text)}</p>"
        '<p style="color:#666;font-size:small">You receive this email because of your Guild notification '
        f'settings. <a href="{escape(unsubscribe_url, quote=True)}">Stop these emails</a>.</p>'
        "</body></html>"
    )
    return RenderedEmail(subject=subject, text=text, html=html)
