"""Notify's own metrics."""

from __future__ import annotations

from opentelemetry import metrics

_sent = metrics.get_meter("guild.notify").create_counter(
    "guild.notifications.sent", description="notifications delivered, by channel (in_app, email)"
)


def count_sent(channel: str, notification_type: str = "") -> None:
    attributes = {"channel": channel}
    if notification_type:
        attributes["notification.type"] = notification_type
    _sent.add(1, attributes)
