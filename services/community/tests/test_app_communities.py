"""Community use cases on in-memory ports: creating, reading, listing, updating, lifecycle."""

from __future__ import annotations

import pytest

from guild_common.auth import Principal
from guild_common.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from guild_community.app.communities import NewCommunity
from guild_community.app.ports import CommunityFilter
from guild_community.domain.communities import (
    CommunityCreated,
    CommunityPatch,
    CommunityUpdated,
    Lifecycle,
    LifecycleChanged,
    Visibility,
)
from guild_community.domain.membership import MemberJoined, Role

from .memory import MemoryCommunityService, new_community, person, service_caller

OWNER = person("olivia")
OUTSIDER = person("oscar")


def _new(slug: str, request_id: str = "", **fields: object) -> NewCommunity:
    values: dict[str, object] = {
        "name": slug.replace("-", " ").title(),
        "slug": slug,
        "description": "about " + slug,
        "programme": "sales",
        "region": "amer",
        "visibility": Visibility.OPEN,
        "request_id": request_id,
    }
    values.update(fields)
    return NewCommunity(**values)  # type: ignore[arg-type]


async def test_create_makes_the_creator_owner_and_publishes_created_then_joined(
    svc: MemoryCommunityService,
) -> None:
    community = await svc.communities.create_community(OWNER, _new("data-guild"))
    assert (community.member_count, community.created_by, community.lifecycle) == (
        1,
        "olivia",
        Lifecycle.LIVE,
    )
    owner = await svc.repository.get_membership(community.id, "olivia")
    assert owner is not None
    assert owner.role == Role.OWNER
    assert [type(e) for e in svc.repository.events] == [CommunityCreated, MemberJoined]
    joined = svc.repository.events[1]
    assert isinstance(joined, MemberJoined)
    assert (joined.membership.member_id, joined.region, joined.programme) == ("olivia", "amer", "sales")


async def test_create_is_idempotent_by_request_id_per_caller(svc: MemoryCommunityService) -> None:
    first = await svc.communities.create_community(OWNER, _new("retry-me", "req-1"))
    again = await svc.communities.create_community(OWNER, _new("retry-me", "req-1"))
    assert again.id == first.id
    assert len(svc.repository.events) == 2  # the retry published nothing
    # Another caller's request id names another community; the slug is then taken.
    with pytest.raises(AlreadyExists) as taken:
        await svc.communities.create_community(person("pat"), _new("retry-me", "req-1"))
    assert taken.value.reason == "SLUG_TAKEN"
    assert taken.value.metadata == {"slug": "retry-me"}
    assert len(svc.repository.events) == 2


async def test_a_taken_slug_is_refused_and_its_request_id_stays_free(svc: MemoryCommunityService) -> None:
    await new_community(svc, OWNER, "taken")
    with pytest.raises(AlreadyExists):
        await svc.communities.create_community(person("pat"), _new("taken", "req-9"))
    created = await svc.communities.create_community(person("pat"), _new("free-slug", "req-9"))
    assert created.slug == "free-slug"
    assert await svc.repository.get_membership(created.id, "pat") is not None


async def test_invalid_fields_are_reported_together_and_nothing_is_written(
    svc: MemoryCommunityService,
) -> None:
    with pytest.raises(InvalidArgument) as bad:
        await svc.communities.create_community(
            OWNER,
            _new(
                "X",
                name=" ",
                programme="Sales Team",
                region="mars",
                lifecycle=Lifecycle.ARCHIVED,
                pilot_cap=-1,
                auto_hide_flag_threshold=0,
            ),
        )
    fields = {v.field for v in bad.value.violations}
    assert fields == {
        "name",
        "slug",
        "programme",
        "region",
        "lifecycle",
        "settings.pilot_cap",
        "settings.auto_hide_flag_threshold",
    }
    assert svc.repository.events == []
    listed = await svc.communities.list_communities(OWNER, CommunityFilter(), False, 0, "")
    assert list(listed.items) == []


async def test_get_needs_an_id_and_an_existing_community(svc: MemoryCommunityService) -> None:
    with pytest.raises(InvalidArgument) as empty:
        await svc.communities.get_community(OWNER, "")
    assert [v.field for v in empty.value.violations] == ["community_id"]
    with pytest.raises(NotFound) as missing:
        await svc.communities.get_community(OWNER, "nope")
    assert missing.value.reason == "COMMUNITY_NOT_FOUND"


async def test_a_hidden_community_is_seen_only_by_members_invitees_and_services(
    svc: MemoryCommunityService,
) -> None:
    hidden = await new_community(svc, OWNER, "secret", visibility=Visibility.HIDDEN)
    with pytest.raises(NotFound) as outsider:
        await svc.communities.get_community(OUTSIDER, hidden.id)
    assert outsider.value.reason == "COMMUNITY_NOT_FOUND"
    assert (await svc.communities.get_community(OWNER, hidden.id)).id == hidden.id
    assert (await svc.communities.get_community(service_caller("content"), hidden.id)).id == hidden.id
    await svc.membership.invite(OWNER, hidden.id, "ivy")
    assert (await svc.communities.get_community(person("ivy"), hidden.id)).slug == "secret"


async def test_listing_filters_hides_hidden_ones_and_searches_by_name_prefix(
    svc: MemoryCommunityService,
) -> None:
    await new_community(svc, OWNER, "alpha", name="Sales Alpha", region="emea")
    await new_community(svc, OWNER, "beta", name="sales beta", programme="support")
    await new_community(svc, OWNER, "gamma", name="Gamma", lifecycle=Lifecycle.DRAFT)
    await new_community(svc, OWNER, "delta", name="Sales Delta", visibility=Visibility.HIDDEN)

    async def slugs(where: CommunityFilter, mine: bool = False, caller: Principal = OUTSIDER) -> list[str]:
        page = await svc.communities.list_communities(caller, where, mine, 0, "")
        return [c.slug for c in page.items]

    assert await slugs(CommunityFilter()) == ["gamma", "alpha", "beta"]  # by name, case-insensitive
    assert await slugs(CommunityFilter(name_prefix="SALES")) == ["alpha", "beta"]
    assert await slugs(CommunityFilter(region="emea")) == ["alpha"]
    assert await slugs(CommunityFilter(programme="support")) == ["beta"]
    assert await slugs(CommunityFilter(lifecycle=Lifecycle.DRAFT)) == ["gamma"]
    assert await slugs(CommunityFilter(visibility=Visibility.HIDDEN)) == []
    # "Mine" lists the caller's communities, hidden ones included.
    assert await slugs(CommunityFilter(name_prefix="sales"), mine=True, caller=OWNER) == [
        "alpha",
        "beta",
        "delta",
    ]
    assert await slugs(CommunityFilter(), mine=True) == []


async def test_listing_pages_without_gaps_or_repeats(svc: MemoryCommunityService) -> None:
    for n in range(7):
        await new_community(svc, OWNER, f"c{n}-x")
    seen: list[str] = []
    token = ""
    while True:
        page = await svc.communities.list_communities(OWNER, CommunityFilter(), False, 3, token)
        assert len(page.items) <= 3
        seen += [c.slug for c in page.items]
        token = page.next_token
        if not token:
            break
    assert seen == [f"c{n}-x" for n in range(7)]


async def test_listing_refuses_a_long_prefix_a_negative_size_and_a_forged_token(
    svc: MemoryCommunityService,
) -> None:
    with pytest.raises(InvalidArgument) as long_prefix:
        await svc.communities.list_communities(OWNER, CommunityFilter(name_prefix="x" * 121), False, 0, "")
    assert [v.field for v in long_prefix.value.violations] == ["name_prefix"]
    with pytest.raises(InvalidArgument) as negative:
        await svc.communities.list_communities(OWNER, CommunityFilter(), False, -1, "")
    assert [v.field for v in negative.value.violations] == ["page_size"]
    with pytest.raises(InvalidArgument) as forged:
        await svc.communities.list_communities(OWNER, CommunityFilter(), False, 0, "abc.def")
    assert [v.field for v in forged.value.violations] == ["page_token"]


async def test_update_applies_the_patch_and_publishes_the_changed_fields(svc: MemoryCommunityService) -> None:
    community = await new_community(svc, OWNER, "patch-me")
    before = len(svc.repository.events)
    updated = await svc.communities.update_community(
        OWNER, community.id, CommunityPatch(description="new words", visibility=Visibility.INVITE_ONLY)
    )
    assert (updated.description, updated.visibility, updated.name) == (
        "new words",
        Visibility.INVITE_ONLY,
        "patch-me",
    )
    assert updated.version == community.version + 1
    [event] = svc.repository.events[before:]
    assert isinstance(event, CommunityUpdated)
    assert event.changed_fields == ("description", "visibility")
    assert event.updated_by == "olivia"
    stored = await svc.communities.get_community(OWNER, community.id)
    assert stored.visibility == Visibility.INVITE_ONLY
    assert stored.member_count == 1


async def test_update_is_for_owners_and_checks_its_fields(svc: MemoryCommunityService) -> None:
    community = await new_community(svc, OWNER, "guarded")
    await svc.membership.join(person("mo"), community.id)
    await svc.membership.grant_role(OWNER, community.id, "mo", Role.MODERATOR)
    before = len(svc.repository.events)
    with pytest.raises(PermissionDenied) as denied:
        await svc.communities.update_community(person("mo"), community.id, CommunityPatch(name="Mine"))
    assert denied.value.reason == "ROLE_REQUIRED"
    assert denied.value.metadata["required_role"] == "owner"
    with pytest.raises(InvalidArgument) as nothing:
        await svc.communities.update_community(OWNER, community.id, CommunityPatch())
    assert [v.field for v in nothing.value.violations] == ["update_mask"]
    with pytest.raises(InvalidArgument) as long_name:
        await svc.communities.update_community(OWNER, community.id, CommunityPatch(name="n" * 121))
    assert [v.field for v in long_name.value.violations] == ["name"]
    assert len(svc.repository.events) == before
    assert (await svc.communities.get_community(OWNER, community.id)).name == "guarded"


async def test_update_of_a_hidden_community_is_not_found_for_outsiders(svc: MemoryCommunityService) -> None:
    hidden = await new_community(svc, OWNER, "hush", visibility=Visibility.HIDDEN)
    with pytest.raises(NotFound):
        await svc.communities.update_community(OUTSIDER, hidden.id, CommunityPatch(name="Mine"))
    with pytest.raises(NotFound):
        await svc.communities.change_lifecycle(OUTSIDER, hidden.id, Lifecycle.ARCHIVED)


async def test_lifecycle_moves_draft_pilot_live_archived_with_events(svc: MemoryCommunityService) -> None:
    community = await new_community(svc, OWNER, "grows", lifecycle=Lifecycle.DRAFT)
    before = len(svc.repository.events)
    for target in (Lifecycle.PILOT, Lifecycle.LIVE, Lifecycle.ARCHIVED):
        moved = await svc.communities.change_lifecycle(OWNER, community.id, target)
        assert moved.lifecycle == target
    changes = svc.repository.events[before:]
    assert all(isinstance(e, LifecycleChanged) for e in changes)
    assert [(e.previous, e.lifecycle) for e in changes if isinstance(e, LifecycleChanged)] == [
        (Lifecycle.DRAFT, Lifecycle.PILOT),
        (Lifecycle.PILOT, Lifecycle.LIVE),
        (Lifecycle.LIVE, Lifecycle.ARCHIVED),
    ]
    with pytest.raises(FailedPrecondition) as stuck:
        await svc.communities.change_lifecycle(OWNER, community.id, Lifecycle.LIVE)
    assert stuck.value.reason == "INVALID_LIFECYCLE_TRANSITION"
    assert stuck.value.metadata == {"from": "archived", "to": "live"}
    # Archived is read-only.
    with pytest.raises(FailedPrecondition) as archived:
        await svc.communities.update_community(OWNER, community.id, CommunityPatch(name="Again"))
    assert archived.value.reason == "COMMUNITY_ARCHIVED"


async def test_lifecycle_changes_are_for_owners(svc: MemoryCommunityService) -> None:
    community = await new_community(svc, OWNER, "owned")
    await svc.membership.join(person("mia"), community.id)
    with pytest.raises(PermissionDenied):
        await svc.communities.change_lifecycle(person("mia"), community.id, Lifecycle.ARCHIVED)
    with pytest.raises(PermissionDenied):
        await svc.communities.change_lifecycle(OUTSIDER, community.id, Lifecycle.ARCHIVED)
    assert (await svc.communities.get_community(OWNER, community.id)).lifecycle == Lifecycle.LIVE
