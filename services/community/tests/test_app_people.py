"""People use cases on in-memory ports: profiles and follows."""

from __future__ import annotations

import pytest

from guild_common.errors import InvalidArgument, NotFound, PermissionDenied
from guild_community.domain.people import Followed, ProfilePatch, ProfileUpdated, Unfollowed

from .memory import MemoryCommunityService, person

ANN = person("ann")


async def test_people_edit_their_own_profile_field_by_field(svc: MemoryCommunityService) -> None:
    first = await svc.people.update_profile(
        ANN, "", ProfilePatch(display_name=" Ann ", expertise=["Python", "python", "SQL"])
    )
    assert (first.display_name, first.expertise) == ("Ann", ["python", "sql"])
    second = await svc.people.update_profile(ANN, "ann", ProfilePatch(region="emea"))
    assert (second.display_name, second.region, second.expertise) == ("Ann", "emea", ["python", "sql"])
    events = svc.people_store.events
    assert [type(e) for e in events] == [ProfileUpdated, ProfileUpdated]
    assert isinstance(events[1], ProfileUpdated)
    assert events[1].changed_fields == ("region",)
    assert events[1].profile.display_name == "Ann"
    got = await svc.people.get_profile(person("bob"), "ann")
    assert (got.region, got.update_time) == ("emea", second.update_time)


async def test_nobody_edits_someone_elses_profile(svc: MemoryCommunityService) -> None:
    with pytest.raises(PermissionDenied) as denied:
        await svc.people.update_profile(person("bob"), "ann", ProfilePatch(display_name="Not Ann"))
    assert denied.value.reason == "NOT_OWN_PROFILE"
    assert svc.people_store.events == []
    with pytest.raises(NotFound) as missing:
        await svc.people.get_profile(person("bob"), "ann")
    assert missing.value.reason == "PROFILE_NOT_FOUND"


async def test_bad_profile_fields_are_reported_together(svc: MemoryCommunityService) -> None:
    with pytest.raises(InvalidArgument) as bad:
        await svc.people.update_profile(
            ANN,
            "",
            ProfilePatch(display_name=" ", region="mars", bio="b" * 2001, interests=["ok", "not ok!"]),
        )
    assert {v.field for v in bad.value.violations} == {
        "profile.display_name",
        "profile.region",
        "profile.bio",
        "profile.interests",
    }
    with pytest.raises(InvalidArgument) as empty:
        await svc.people.update_profile(ANN, "", ProfilePatch())
    assert [v.field for v in empty.value.violations] == ["update_mask"]
    assert await svc.people_store.get_profile("ann") is None
    with pytest.raises(InvalidArgument) as bad_id:
        await svc.people.get_profile(ANN, "has space")
    assert [v.field for v in bad_id.value.violations] == ["member_id"]


async def test_follows_are_idempotent_counted_and_undone(svc: MemoryCommunityService) -> None:
    first = await svc.people.follow(person("bob"), "ann")
    again = await svc.people.follow(person("bob"), "ann")
    assert again == first
    await svc.people.follow(person("cat"), "ann")
    ann = await svc.people.get_profile(ANN, "ann")
    assert (ann.follower_count, ann.following_count) == (2, 0)
    await svc.people.unfollow(person("bob"), "ann")
    with pytest.raises(NotFound) as gone:
        await svc.people.unfollow(person("bob"), "ann")
    assert gone.value.reason == "FOLLOW_NOT_FOUND"
    assert [type(e) for e in svc.people_store.events] == [Followed, Followed, Unfollowed]
    assert (await svc.people.get_profile(ANN, "ann")).follower_count == 1
    bob = await svc.people.get_profile(ANN, "bob")
    assert bob.following_count == 0


async def test_people_cannot_follow_themselves_or_a_bad_id(svc: MemoryCommunityService) -> None:
    with pytest.raises(InvalidArgument) as self_follow:
        await svc.people.follow(ANN, "ann")
    assert [(v.field, v.description) for v in self_follow.value.violations] == [
        ("member_id", "is the caller")
    ]
    with pytest.raises(InvalidArgument):
        await svc.people.follow(ANN, "")
    assert svc.people_store.events == []


async def test_followers_and_following_page_newest_first(svc: MemoryCommunityService) -> None:
    fans = [f"fan{n}" for n in range(5)]
    for fan in fans:
        await svc.people.follow(person(fan), "ann")
    await svc.people.follow(ANN, "bob")
    seen: list[str] = []
    token = ""
    while True:
        follows, token = await svc.people.list_followers(ANN, "ann", 2, token)
        assert len(follows) <= 2
        seen += [f.follower_id for f in follows]
        if not token:
            break
    assert seen == fans[::-1]
    following, more = await svc.people.list_following(person("bob"), "ann", 0, "")
    assert ([f.followee_id for f in following], more) == (["bob"], "")
    with pytest.raises(InvalidArgument):
        await svc.people.list_followers(ANN, "ann", -1, "")
