"""Protobuf <-> domain mapping for the notify API."""

from __future__ import annotations

from guild.notify.v1 import notification_pb2 as pb
from guild.notify.v1 import notify_service_pb2 as api
from guild.notify.v1 import webhook_pb2 as wpb
from guild_common.errors import FieldViolation, InvalidArgument
from guild_common.prototime import to_timestamp as _timestamp
from guild_notify.app.preferences import PreferencesChange
from guild_notify.domain.broadcasts import Broadcast
from guild_notify.domain.notifications import Notification, NotificationGroup, NotificationType
from guild_notify.domain.preferences import Channels, DigestFrequency, Preferences
from guild_notify.domain.webhooks import Delivery, DeliveryState, Webhook

# NotificationType.X is NOTIFICATION_TYPE_X on the wire; a type missing from the proto fails at import.
_TYPE_TO_PB = {t: pb.NotificationType.Value(f"NOTIFICATION_TYPE_{t.name}") for t in NotificationType}


_TYPE_FROM_PB = {v: k for k, v in _TYPE_TO_PB.items()}


_DIGEST_TO_PB = {
    DigestFrequency.OFF: pb.DIGEST_FREQUENCY_OFF,
    DigestFrequency.DAILY: pb.DIGEST_FREQUENCY_DAILY,
    DigestFrequency.WEEKLY: pb.DIGEST_FREQUENCY_WEEKLY,
}


_DIGEST_FROM_PB = {v: k for k, v in _DIGEST_TO_PB.items()}


_MASK_PATHS = (
    "channels",
    "muted_community_ids",
    "digest_frequency",
    "email_address",
    "learning_records_opt_out",
)


def notification_to_pb(n: Notification) -> pb.Notification:
    return pb.Notification(
        id=n.id,
        recipient_id=n.recipient_id,
        type=_TYPE_TO_PB[n.type],
        community_id=n.community_id,
        subject_id=n.subject_id,
        actor_id=n.actor_id,
        text=n.text,
        create_time=_timestamp(n.create_time),
        read=n.read,
        sequence=n.sequence,
        group_key=n.group_key,
    )


def group_to_pb(g: NotificationGroup) -> pb.NotificationGroup:
    return pb.NotificationGroup(
        group_key=g.key,
        type=_TYPE_TO_PB[g.type],
        community_id=g.community_id,
        subject_id=g.subject_id,
        unread_count=g.unread_count,
        total_count=g.total_count,
        latest_actor_id=g.latest_actor_id,
        latest_text=g.latest_text,
        update_time=_timestamp(g.update_time),
        summary=g.summary,
    )


def preferences_to_pb(p: Preferences) -> pb.Preferences:
    return pb.Preferences(
        member_id=p.member_id,
        channels=[
            pb.ChannelPreference(type=_TYPE_TO_PB[t], in_app=c.in_app, email=c.email)
            for t, c in p.effective_channels().items()
        ],
        muted_community_ids=sorted(p.muted_community_ids),
        digest_frequency=_DIGEST_TO_PB[p.digest_frequency],
        email_address=p.email_address,
        learning_records_opt_out=p.learning_records_opt_out,
    )


_STATE_TO_PB = {
    DeliveryState.PENDING: wpb.WEBHOOK_DELIVERY_STATE_PENDING,
    DeliveryState.DELIVERED: wpb.WEBHOOK_DELIVERY_STATE_DELIVERED,
    DeliveryState.DEAD: wpb.WEBHOOK_DELIVERY_STATE_DEAD,
}


def webhook_to_pb(w: Webhook) -> wpb.Webhook:
    return wpb.Webhook(
        id=w.id,
        owner_id=w.owner_id,
        url=w.url,
        event_types=list(w.event_types),
        create_time=_timestamp(w.create_time),
    )


def delivery_to_pb(d: Delivery) -> wpb.WebhookDelivery:
    return wpb.WebhookDelivery(
        id=d.id,
        webhook_id=d.webhook_id,
        event_id=d.event_id,
        event_type=d.event_type,
        state=_STATE_TO_PB[d.state],
        attempts=[
            wpb.WebhookAttempt(
                attempt=a.attempt,
                attempt_time=_timestamp(a.at),
                status_code=a.status_code,
                error=a.error,
                duration_ms=a.duration_ms,
            )
            for a in d.attempts
        ],
        create_time=_timestamp(d.create_time),
        next_attempt_time=_timestamp(d.next_attempt_time),
    )


def broadcast_to_pb(b: Broadcast) -> pb.Broadcast:
    return pb.Broadcast(
        id=b.id,
        community_id=b.community_id,
        author_id=b.author_id,
        text=b.text,
        subject_id=b.subject_id,
        create_time=_timestamp(b.create_time),
    )


def change_from_pb(request: api.UpdatePreferencesRequest) -> PreferencesChange:
    paths = list(dict.fromkeys(request.update_mask.paths))
    violations = [
        FieldViolation("update_mask", f"unknown path {path!r}; known: {', '.join(_MASK_PATHS)}")
        for path in paths
        if path not in _MASK_PATHS
    ]
    if not paths:
        violations.append(FieldViolation("update_mask", "must name at least one field"))
    given = request.preferences
    channels: dict[NotificationType, Channels] | None = None
    if "channels" in paths:
        channels = {}
        for i, entry in enumerate(given.channels):
            if entry.type not in _TYPE_FROM_PB:
                violations.append(
                    FieldViolation(f"preferences.channels[{i}].type", "unknown notification type")
                )
                continue
            channels[_TYPE_FROM_PB[entry.type]] = Channels(in_app=entry.in_app, email=entry.email)
    digest: DigestFrequency | None = None
    if "digest_frequency" in paths:
        if given.digest_frequency not in _DIGEST_FROM_PB:
            violations.append(FieldViolation("preferences.digest_frequency", "must be off, daily or weekly"))
        else:
            digest = _DIGEST_FROM_PB[given.digest_frequency]
    if violations:
        raise InvalidArgument("request has invalid fields", violations=violations)
    return PreferencesChange(
        channels=channels,
        muted_community_ids=list(given.muted_community_ids) if "muted_community_ids" in paths else None,
        digest_frequency=digest,
        email_address=given.email_address if "email_address" in paths else None,
        learning_records_opt_out=(
            given.learning_records_opt_out if "learning_records_opt_out" in paths else None
        ),
    )
