"""Profiles and follows over gRPC."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask

from guild.community.v1 import community_pb2 as pb
from guild.community.v1 import community_service_pb2 as api
from guild.community.v1 import community_service_pb2_grpc as api_grpc
from guild.events.v1 import community_events_pb2 as events
from guild_testing.fixtures import auth

from .conftest import EventReader

Stub = api_grpc.CommunityServiceStub


async def test_people_edit_their_own_profile_with_a_mask(stub: Stub, read_events: EventReader) -> None:
    updated: api.UpdateProfileResponse = await stub.UpdateProfile(
        api.UpdateProfileRequest(
            profile=pb.Profile(
                display_name=" Ann Lee ",
                job_title="Account manager",
                region="emea",
                bio="not in the mask",
                expertise=["Negotiation", "crm", "negotiation"],
            ),
            update_mask=FieldMask(paths=["display_name", "job_title", "region", "expertise"]),
        ),
        metadata=auth("ann"),
    )
    p = updated.profile
    assert (p.member_id, p.display_name, p.job_title, p.region, p.bio) == (
        "ann",
        "Ann Lee",
        "Account manager",
        "emea",
        "",
    )
    assert list(p.expertise) == ["negotiation", "crm"]
    await stub.UpdateProfile(
        api.UpdateProfileRequest(
            profile=pb.Profile(bio="Ten years in field sales"), update_mask=FieldMask(paths=["bio"])
        ),
        metadata=auth("ann"),
    )
    got: api.GetProfileResponse = await stub.GetProfile(
        api.GetProfileRequest(member_id="ann"), metadata=auth("bob")
    )
    assert (got.profile.job_title, got.profile.bio) == ("Account manager", "Ten years in field sales")

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.UpdateProfile(
            api.UpdateProfileRequest(
                profile=pb.Profile(member_id="ann", bio="x"), update_mask=FieldMask(paths=["bio"])
            ),
            metadata=auth("bob"),
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    for profile, paths in [
        (pb.Profile(region="mars"), ["region"]),
        (pb.Profile(expertise=["not a tag!"]), ["expertise"]),
        (pb.Profile(display_name=""), ["display_name"]),
        (pb.Profile(), ["email"]),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.UpdateProfile(
                api.UpdateProfileRequest(profile=profile, update_mask=FieldMask(paths=paths)),
                metadata=auth("bob"),
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, paths
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetProfile(api.GetProfileRequest(member_id="bob"), metadata=auth("ann"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND

    # People events go out on the global subject; the home region travels in the payload.
    received = await read_events("guild.global.global.community.profile_updated", 2)
    first = received[0].payload(events.ProfileUpdated)
    assert received[0].type == "guild.community.profile_updated.v1"
    assert (first.member_id, list(first.expertise), first.region) == ("ann", ["negotiation", "crm"], "emea")
    assert list(received[1].payload(events.ProfileUpdated).changed_fields) == ["bio"]


async def test_follows_are_listed_counted_and_undone(stub: Stub, read_events: EventReader) -> None:
    for person in ("bob", "cat", "dan", "bob"):
        followed: api.FollowMemberResponse = await stub.FollowMember(
            api.FollowMemberRequest(member_id="ann"), metadata=auth(person)
        )
        assert followed.follow.followee_id == "ann"
    await stub.FollowMember(api.FollowMemberRequest(member_id="cat"), metadata=auth("ann"))
    followers: list[str] = []
    token = ""
    while True:
        page: api.ListFollowersResponse = await stub.ListFollowers(
            api.ListFollowersRequest(member_id="ann", page_size=2, page_token=token), metadata=auth("zed")
        )
        followers += [f.follower_id for f in page.follows]
        token = page.next_page_token
        if not token:
            break
    assert followers == ["dan", "cat", "bob"]
    following: api.ListFollowingResponse = await stub.ListFollowing(
        api.ListFollowingRequest(member_id="ann"), metadata=auth("zed")
    )
    assert [f.followee_id for f in following.follows] == ["cat"]
    await stub.UnfollowMember(api.UnfollowMemberRequest(member_id="ann"), metadata=auth("cat"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.UnfollowMember(api.UnfollowMemberRequest(member_id="ann"), metadata=auth("cat"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.FollowMember(api.FollowMemberRequest(member_id="ann"), metadata=auth("ann"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    profile: api.GetProfileResponse = await stub.GetProfile(
        api.GetProfileRequest(member_id="ann"), metadata=auth("ann")
    )
    assert (profile.profile.follower_count, profile.profile.following_count) == (2, 1)

    received = await read_events("guild.global.global.community.>", 5)
    assert [e.type.split(".")[2] for e in received].count("followed") == 4
    unfollowed = [e.payload(events.Unfollowed) for e in received if e.type == "guild.community.unfollowed.v1"]
    assert [(u.follower_id, u.followee_id) for u in unfollowed] == [("cat", "ann")]
