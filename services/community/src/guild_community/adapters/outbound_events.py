"""Domain events of the community service as CloudEvents envelopes with protobuf payloads."""

from __future__ import annotations

from google.protobuf.message import Message

from guild.events.v1 import community_events_pb2 as pb
from guild_common.events.envelope import Envelope, new_envelope
from guild_common.events.outbox import current_trace_headers
from guild_common.prototime import to_timestamp
from guild_community.domain.communities import (
    CommunityCreated,
    CommunityUpdated,
    DomainEvent,
    LifecycleChanged,
)
from guild_community.domain.membership import (
    JoinRequested,
    MemberInvited,
    MemberJoined,
    MemberLeft,
    RoleGranted,
    RoleRevoked,
    membership_key,
)

SERVICE = "community"


def to_envelope(event: DomainEvent) -> Envelope:
    trace_headers = current_trace_headers()
    payload: Message
    if isinstance(event, CommunityCreated):
        c = event.community
        payload = pb.CommunityCreated(
            community_id=c.id,
            slug=c.slug,
            name=c.name,
            programme=c.programme,
            region=c.region,
            visibility=c.visibility.value,
            lifecycle=c.lifecycle.value,
            created_by=c.created_by,
            create_time=to_timestamp(c.create_time),
        )
        name, subject, region, programme = "community_created", c.id, c.region, c.programme
    elif isinstance(event, MemberJoined):
        m = event.membership
        payload = pb.MemberJoined(
            community_id=m.community_id,
            member_id=m.member_id,
            role=m.role.value,
            programme=event.programme,
            region=event.region,
            join_time=to_timestamp(m.join_time),
            enrolled_by=m.enrolled_by,
        )
        name, subject, region, programme = "member_joined", m.key, event.region, event.programme
    elif isinstance(event, LifecycleChanged):
        payload = pb.LifecycleChanged(
            community_id=event.community_id,
            previous_lifecycle=event.previous.value,
            lifecycle=event.lifecycle.value,
            changed_by=event.changed_by,
            programme=event.programme,
            region=event.region,
            change_time=to_timestamp(event.time),
        )
        name, subject, region, programme = (
            "lifecycle_changed",
            event.community_id,
            event.region,
            event.programme,
        )
    elif isinstance(event, CommunityUpdated):
        c = event.community
        payload = pb.CommunityUpdated(
            community_id=c.id,
            name=c.name,
            description=c.description,
            visibility=c.visibility.value,
            auto_hide_flag_threshold=c.auto_hide_flag_threshold,
            pilot_cap=c.pilot_cap,
            changed_fields=list(event.changed_fields),
            updated_by=event.updated_by,
            programme=c.programme,
            region=c.region,
            update_time=to_timestamp(event.time),
        )
        name, subject, region, programme = "community_updated", c.id, c.region, c.programme
    elif isinstance(event, MemberLeft):
        payload = pb.MemberLeft(
            community_id=event.community_id,
            member_id=event.member_id,
            reason=event.reason.value,
            actor_id=event.actor_id,
            programme=event.programme,
            region=event.region,
            leave_time=to_timestamp(event.time),
        )
        name, region, programme = "member_left", event.region, event.programme
        subject = membership_key(event.community_id, event.member_id)
    elif isinstance(event, RoleGranted):
        payload = pb.RoleGranted(
            community_id=event.community_id,
            member_id=event.member_id,
            role=event.role.value,
            previous_role=event.previous_role.value,
            granted_by=event.granted_by,
            programme=event.programme,
            region=event.region,
            grant_time=to_timestamp(event.time),
        )
        name, region, programme = "role_granted", event.region, event.programme
        subject = membership_key(event.community_id, event.member_id)
    elif isinstance(event, RoleRevoked):
        payload = pb.RoleRevoked(
            community_id=event.community_id,
            member_id=event.member_id,
            role=event.role.value,
            current_role=event.current_role.value,
            revoked_by=event.revoked_by,
            programme=event.programme,
            region=event.region,
            revoke_time=to_timestamp(event.time),
        )
        name, region, programme = "role_revoked", event.region, event.programme
        subject = membership_key(event.community_id, event.member_id)
    elif isinstance(event, MemberInvited):
        i = event.invitation
        payload = pb.MemberInvited(
            community_id=i.community_id,
            member_id=i.member_id,
            invited_by=i.invited_by,
            programme=event.programme,
            region=event.region,
            invite_time=to_timestamp(i.create_time),
        )
        name, region, programme = "member_invited", event.region, event.programme
        subject = membership_key(i.community_id, i.member_id)
    elif isinstance(event, JoinRequested):
        r = event.request
        payload = pb.JoinRequested(
            community_id=r.community_id,
            member_id=r.member_id,
            programme=event.programme,
            region=event.region,
            request_time=to_timestamp(r.create_time),
        )
        name, region, programme = "join_requested", event.region, event.programme
        subject = membership_key(r.community_id, r.member_id)
    else:  # pragma: no cover - exhaustive over DomainEvent
        raise TypeError(f"unknown event {event!r}")
    return new_envelope(
        service=SERVICE,
        name=name,
        payload=payload,
        subject=subject,
        region=region,
        programme=programme,
        traceparent=trace_headers.get("traceparent", ""),
        tracestate=trace_headers.get("tracestate", ""),
    )
