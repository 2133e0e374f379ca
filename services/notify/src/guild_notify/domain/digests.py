"""Digests: new content of a member's communities over a day or a week, in one email. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape

from guild_notify.domain.preferences import DigestFrequency


@dataclass(frozen=True)
class ContentItem:
    """Something new in a community: a question, a broadcast, later resources and articles."""

    id: str
    community_id: str
    kind: str
    title: str
    author_id: str
    create_time: datetime


@dataclass(frozen=True)
class Period:
    frequency: DigestFrequency
    key: str
    start: datetime
    end: datetime


def last_complete_period(frequency: DigestFrequency, now: datetime) -> Period:
    """The latest whole UTC day, or ISO week (Monday to Monday), that ended at or before ``now``."""
    today = datetime(now.year, now.month, now.day, tzinfo=UTC)
    if frequency is DigestFrequency.DAILY:
        start = today - timedelta(days=1)
        return Period(frequency, start.date().isoformat(), start, today)
    if frequency is DigestFrequency.WEEKLY:
        this_monday = today - timedelta(days=today.weekday())
        start = this_monday - timedelta(days=7)
        year, week, _ = start.isocalendar()
        return Period(frequency, f"{year}-W{week:02d}", start, this_monday)
    raise ValueError(f"no digest period for {frequency}")


def digest_email_id(period: Period, member_id: str) -> str:
    """One digest per member and period, however often a run is repeated."""
    return f"digest:{period.frequency.value}:{period.key}:{member_id}"


@dataclass(frozen=True)
class DigestBody:
    subject: str
    text: str
    html: str


def render_digest(period: Period, items: list[ContentItem], unsubscribe_url: str) -> DigestBody:
    by_community: dict[str, list[ContentItem]] = {}
    for item in sorted(items, key=lambda i: (i.community_id, i.create_time, i.id)):
        by_community.setdefault(item.community_id, []).append(item)
    subject = f"Your Guild digest: {len(items)} new item{'s' if len(items) != 1 else ''} ({period.key})"
    lines = [f"New in your communities ({period.key}):", ""]
    html = [f"<!doctype html><html><body><h1>New in your communities ({escape(period.key)})</h1>"]
    for community_id, community_items in by_community.items():
        lines.append(f"{community_id}:")
        html.append(f"<h2>{escape(community_id)}</h2><ul>")
        for item in community_items:
            lines.append(f"  - [{item.kind}] {item.title}")
            html.append(f"<li>[{escape(item.kind)}] {escape(item.title)}</li>")
        lines.append("")
        html.append("</ul>")
    lines.append(f"Change how often you hear from Guild, or stop these digests: {unsubscribe_url}")
    html.append(
        f'<p style="color:#666;font-size:small">You receive this {period.frequency.value} digest because of '
        f'your settings. <a href="{escape(unsubscribe_url, quote=True)}">Stop these emails</a>.</p>'
        "</body></html>"
    )
    return DigestBody(subject=subject, text="\n".join(lines) + "\n", html="".join(html))
