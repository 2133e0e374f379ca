"""Each write wakes the outbox relay naming the document that holds its events.

The relay here sweeps every outbox collection in full only at start and then once an hour: an event
reaches NATS within seconds only if its write named the right collection and ``_id``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.timestamp_pb2 import Timestamp

from guild.community.v1 import community_pb2 as pb
from guild.community.v1 import community_service_pb2 as api
from guild.community.v1 import community_service_pb2_grpc as api_grpc
from guild.community.v1 import goal_pb2 as gpb
from guild.community.v1 import survey_pb2 as spb
from guild_community.bootstrap import build
from guild_community.config import CommunitySettings
from guild_community.domain.authorization import ENROL_SCOPE
from guild_testing.fixtures import Infra, auth
from guild_testing.inprocess import running_service
from guild_testing.streams import Seen, await_events

from .conftest import FULL_SWEEP_SECONDS

Stub = api_grpc.CommunityServiceStub
# The owner also holds the scope for enrolling people without asking them (EnrolCohort).
OWNER = auth("olivia", ENROL_SCOPE)


async def _community(stub: Stub, slug: str, visibility: pb.Visibility.ValueType) -> str:
    created: api.CreateCommunityResponse = await stub.CreateCommunity(
        api.CreateCommunityRequest(
            name=slug,
            slug=slug,
            programme="sales",
            region="amer",
            visibility=visibility,
            lifecycle=pb.LIFECYCLE_LIVE,
        ),
        metadata=OWNER,
    )
    return created.community.id


async def _goal(stub: Stub, cid: str) -> str:
    created: api.CreateGoalResponse = await stub.CreateGoal(
        api.CreateGoalRequest(
            community_id=cid,
            metric=gpb.GOAL_METRIC_CONTRIBUTORS_PCT,
            target=20,
            deadline=Timestamp(seconds=int(time.time()) + 30 * 86400),
        ),
        metadata=OWNER,
    )
    return created.goal.id


async def test_every_kind_of_write_publishes_its_events_by_the_document_it_names(
    settings_for: Callable[..., CommunitySettings], infra: Infra
) -> None:
    settings = settings_for(CommunitySettings, outbox_full_sweep_seconds=FULL_SWEEP_SECONDS)
    async with running_service(settings, build) as service:
        stub = Stub(service.channel)
        seen: Seen = set()

        async def published(*events: tuple[str, str]) -> None:
            """Wait for the events of the last write: a later write to the same document cannot stand in."""
            await await_events(infra.nats_url, "GUILD_COMMUNITY", set(events), seen)
            assert set(events) - seen == set()

        # Once a goal's event arrives, the sweep at start has read every collection (goals come last):
        # what follows is published only by the documents the writes name.
        warm_up = await _community(stub, "warm-up", pb.VISIBILITY_OPEN)
        await published(("goal_set", await _goal(stub, warm_up)))

        cid = await _community(stub, "field-sales", pb.VISIBILITY_OPEN)
        await published(("community_created", cid))
        await stub.UpdateCommunity(
            api.UpdateCommunityRequest(
                community=pb.Community(id=cid, description="Deals and pipelines"),
                update_mask=FieldMask(paths=["description"]),
            ),
            metadata=OWNER,
        )
        await published(("community_updated", cid))
        await stub.JoinCommunity(api.JoinCommunityRequest(community_id=cid), metadata=auth("ann"))
        await published(("member_joined", f"{cid}:ann"))
        await stub.EnrolCohort(
            api.EnrolCohortRequest(community_id=cid, member_ids=["bob", "cat"]), metadata=OWNER
        )
        await published(("member_joined", f"{cid}:bob"), ("member_joined", f"{cid}:cat"))
        await stub.GrantRole(
            api.GrantRoleRequest(community_id=cid, member_id="ann", role=pb.ROLE_MODERATOR), metadata=OWNER
        )
        await published(("role_granted", f"{cid}:ann"))
        await stub.LeaveCommunity(api.LeaveCommunityRequest(community_id=cid), metadata=auth("bob"))
        await published(("member_left", f"{cid}:bob"))

        guarded = await _community(stub, "key-accounts", pb.VISIBILITY_REQUEST_TO_JOIN)
        await stub.RequestToJoin(api.RequestToJoinRequest(community_id=guarded), metadata=auth("dan"))
        await published(("join_requested", f"{guarded}:dan"))
        await stub.InviteMember(
            api.InviteMemberRequest(community_id=guarded, member_id="eve"), metadata=OWNER
        )
        await published(("member_invited", f"{guarded}:eve"))

        await stub.UpdateProfile(
            api.UpdateProfileRequest(
                profile=pb.Profile(job_title="Account manager"), update_mask=FieldMask(paths=["job_title"])
            ),
            metadata=auth("ann"),
        )
        await published(("profile_updated", "ann"))
        await stub.FollowMember(api.FollowMemberRequest(member_id="cat"), metadata=auth("ann"))
        await published(("followed", "ann>cat"))
        await stub.UnfollowMember(api.UnfollowMemberRequest(member_id="cat"), metadata=auth("ann"))
        await published(("unfollowed", "ann>cat"))

        survey: api.CreateSurveyResponse = await stub.CreateSurvey(
            api.CreateSurveyRequest(
                community_id=cid,
                title="Week one",
                questions=[spb.Question(text="Would you recommend it?", type=spb.QUESTION_TYPE_NPS)],
            ),
            metadata=OWNER,
        )
        sid = survey.survey.id
        await stub.OpenSurvey(api.OpenSurveyRequest(survey_id=sid), metadata=OWNER)
        await published(("survey_opened", sid))
        await stub.SubmitSurveyResponse(
            api.SubmitSurveyResponseRequest(survey_id=sid, answers=[spb.Answer(question_id="q1", score=9)]),
            metadata=auth("cat"),
        )
        await published(("survey_response_submitted", f"{sid}:cat"))
        await published(("goal_set", await _goal(stub, cid)))
