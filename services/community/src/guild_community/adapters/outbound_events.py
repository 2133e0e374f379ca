"""Domain events of the community service as CloudEvents envelopes with protobuf payloads."""

from __future__ import annotations

from google.protobuf.message import Message

from guild.events.v1 import community_events_pb2 as pb
from guild_common.events.envelope import Envelope
from guild_common.events.outbox import traced_envelope
from guild_common.prototime import optional_timestamp, to_timestamp
from guild_community.domain.communities import (
    CommunityCreated,
    CommunityUpdated,
    DomainEvent,
    LifecycleChanged,
)
from guild_community.domain.goals import GoalSet
from guild_community.domain.membership import (
    JoinRequested,
    MemberInvited,
    MemberJoined,
    MemberLeft,
    RoleGranted,
    RoleRevoked,
    membership_key,
)
from guild_community.domain.people import GLOBAL, Followed, PeopleEvent, ProfileUpdated
from guild_community.domain.pilot import PilotControl
from guild_community.domain.surveys import SurveyClosed, SurveyEvent, SurveyOpened

SERVICE = "community"


def to_envelope(event: DomainEvent) -> Envelope:
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
    return traced_envelope(
        service=SERVICE,
        name=name,
        payload=payload,
        subject=subject,
        region=region,
        programme=programme,
    )


def goal_envelope(event: GoalSet) -> Envelope:
    g = event.goal
    return traced_envelope(
        service=SERVICE,
        name="goal_set",
        payload=pb.GoalSet(
            goal_id=g.id,
            community_id=g.community_id,
            metric=g.metric.value,
            target=g.target,
            deadline=to_timestamp(g.deadline),
            set_in_lifecycle=g.set_in_lifecycle.value,
            set_by=g.created_by,
            programme=event.programme,
            region=event.region,
            set_time=to_timestamp(g.create_time),
        ),
        subject=g.id,
        region=event.region,
        programme=event.programme,
    )


def people_envelope(event: PeopleEvent) -> Envelope:
    payload: Message
    if isinstance(event, ProfileUpdated):
        p = event.profile
        payload = pb.ProfileUpdated(
            member_id=p.member_id,
            display_name=p.display_name,
            job_title=p.job_title,
            department=p.department,
            region=p.region,
            expertise=p.expertise,
            interests=p.interests,
            changed_fields=list(event.changed_fields),
            update_time=optional_timestamp(p.update_time),
        )
        name, subject = "profile_updated", p.member_id
    elif isinstance(event, Followed):
        f = event.follow
        payload = pb.Followed(
            follower_id=f.follower_id, followee_id=f.followee_id, follow_time=to_timestamp(f.create_time)
        )
        name, subject = "followed", f.key
    else:
        f = event.follow
        payload = pb.Unfollowed(
            follower_id=f.follower_id, followee_id=f.followee_id, unfollow_time=to_timestamp(event.time)
        )
        name, subject = "unfollowed", f.key
    return traced_envelope(
        service=SERVICE,
        name=name,
        payload=payload,
        subject=subject,
        # A person's events concern every region and programme they take part in; their home region
        # travels in the payload.
        region=GLOBAL,
        programme=GLOBAL,
    )


def pilot_control_envelope(c: PilotControl, region: str, programme: str) -> Envelope:
    return traced_envelope(
        service=SERVICE,
        name="pilot_control_set",
        payload=pb.PilotControlSet(
            community_id=c.community_id,
            control_community_id=c.control_community_id,
            control_member_ids=list(c.control_member_ids),
            set_by=c.set_by,
            set_time=to_timestamp(c.set_time),
            version=c.version,
            programme=programme,
            region=region,
        ),
        subject=c.community_id,
        region=region,
        programme=programme,
    )


def survey_envelope(event: SurveyEvent) -> Envelope:
    payload: Message
    if isinstance(event, SurveyOpened):
        s = event.survey
        payload = pb.SurveyOpened(
            survey_id=s.id,
            community_id=s.community_id,
            title=s.title,
            opened_by=event.opened_by,
            programme=event.programme,
            region=event.region,
            open_time=optional_timestamp(s.open_time),
        )
        name, subject = "survey_opened", s.id
    elif isinstance(event, SurveyClosed):
        s = event.survey
        payload = pb.SurveyClosed(
            survey_id=s.id,
            community_id=s.community_id,
            closed_by=event.closed_by,
            response_count=s.response_count,
            programme=event.programme,
            region=event.region,
            close_time=optional_timestamp(s.close_time),
        )
        name, subject = "survey_closed", s.id
    else:
        s = event.survey
        payload = pb.SurveyResponseSubmitted(
            survey_id=s.id,
            community_id=s.community_id,
            member_id=event.member_id,
            replaced=event.replaced,
            programme=event.programme,
            region=event.region,
            submit_time=to_timestamp(event.time),
        )
        name, subject = "survey_response_submitted", f"{s.id}:{event.member_id}"
    return traced_envelope(
        service=SERVICE,
        name=name,
        payload=payload,
        subject=subject,
        region=event.region,
        programme=event.programme,
    )
