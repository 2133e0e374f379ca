"""Community notices on in-memory ports: leaders' broadcasts (role rules, validation, idempotent retries),
surveys and new material, each stored once for the whole community, and the membership read model."""

from __future__ import annotations

from datetime import timedelta

import pytest
from services.notify.tests.app_world import World, meta, who

from guild_common.clock import utc_now
from guild_common.errors import InvalidArgument, PermissionDenied
from guild_notify.app.preferences import PreferencesChange
from guild_notify.domain import integration_events as ie
from guild_notify.domain.broadcasts import MAX_TEXT
from guild_notify.domain.notifications import NotificationType
from guild_notify.domain.preferences import Channels, DigestFrequency


@pytest.fixture
async def world() -> World:
    world = World()
    past = utc_now() - timedelta(days=1)
    await world.join("c1", "ann", "cat", at=past)
    for leader, role in [("own", "owner"), ("cur", "curator"), ("cha", "champion"), ("mod", "moderator")]:
        await world.join("c1", leader, role=role, at=past)
    await world.join("c2", "dan", role="owner", at=past)
    return world


@pytest.mark.parametrize("leader", ["own", "cur", "cha", "mod"])
async def test_every_leader_may_broadcast(world: World, leader: str) -> None:
    sent = await world.broadcasts_uc.create(who(leader), "c1", "  Welcome  ", "", "")
    assert (sent.author_id, sent.text, sent.sequence) == (leader, "Welcome", 1)
    assert await world.listed("ann") == [sent.notification_id]


@pytest.mark.parametrize("caller", ["ann", "zed", "dan"])
async def test_members_outsiders_and_leaders_of_other_communities_may_not(world: World, caller: str) -> None:
    with pytest.raises(PermissionDenied) as caught:
        await world.broadcasts_uc.create(who(caller), "c1", "Hello", "", "")
    assert caught.value.reason == "ROLE_REQUIRED"
    assert caught.value.metadata["community_id"] == "c1"
    assert world.broadcasts.broadcasts == {}
    assert world.feed.items == {}


@pytest.mark.parametrize(
    ("community", "text", "violations"),
    [
        ("", "Hello", [("broadcast.community_id", "required")]),
        ("c1", "   ", [("broadcast.text", "required")]),
        ("c1", "x" * (MAX_TEXT + 1), [("broadcast.text", f"at most {MAX_TEXT} characters")]),
        ("", "", [("broadcast.community_id", "required"), ("broadcast.text", "required")]),
    ],
)
async def test_a_broadcast_needs_a_community_and_text(
    world: World, community: str, text: str, violations: list[tuple[str, str]]
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await world.broadcasts_uc.create(who("own"), community, text, "", "")
    assert [(v.field, v.description) for v in caught.value.violations] == violations


async def test_a_retried_create_stores_one_broadcast_and_one_digest_item(world: World) -> None:
    first = await world.broadcasts_uc.create(who("own"), "c1", "Material is up", "", "r1")
    again = await world.broadcasts_uc.create(who("own"), "c1", "Material is up", "", "r1")
    assert again == first
    other_caller = await world.broadcasts_uc.create(who("mod"), "c1", "Material is up", "", "r1")
    assert other_caller.id != first.id  # request ids are the caller's own
    without = await world.broadcasts_uc.create(who("own"), "c1", "Again", "", "")
    assert without.id not in (first.id, other_caller.id)
    assert len(world.broadcasts.broadcasts) == 3
    assert sorted(i.kind for i in world.feed.items.values()) == ["notice"] * 3
    assert world.feed.items[first.notification_id].title == "Material is up"


async def test_a_survey_is_stored_once_and_seen_by_every_member(world: World) -> None:
    opened = ie.SurveyOpened(meta(), "s1", "c1", "own", "Pulse check")
    await world.handle(opened)
    await world.handle(opened)  # redelivered
    assert len(world.broadcasts.broadcasts) == 1
    assert world.inbox.notifications == {}  # no write per member
    for member in ("ann", "cat", "mod"):
        [n] = (await world.inbox_uc.list_notifications(who(member), False, 10, "")).items
        assert (n.type, n.text, n.subject_id, n.read) == (
            NotificationType.SURVEY_OPENED,
            "A survey is open: \u201cPulse check\u201d",
            "s1",
            False,
        )
    assert await world.listed("dan") == []


async def test_new_material_reaches_the_inbox_the_digests_and_email_for_who_asked(world: World) -> None:
    # ann reads new content one by one by email; cat has a digest; zed asked but is no member.
    email_each = Channels(in_app=True, email=True)
    for member in ("ann", "zed"):
        await world.prefs_uc.update(
            who(member),
            PreferencesChange(
                email_address=f"{member}@example.com",
                digest_frequency=DigestFrequency.OFF,
                channels={NotificationType.NEW_CONTENT: email_each},
            ),
        )
    await world.prefs_uc.update(who("cat"), PreferencesChange(email_address="cat@example.com"))
    shared = ie.ResourceShared(meta(), "r1", "c1", "cur", "Onboarding guide")
    await world.handle(shared)
    await world.handle(shared)
    await world.handle(ie.PostCreated(meta(), "p1", "discussion", "c1", "cur", "Chat"))  # not material
    await world.handle(ie.PostCreated(meta(), "p2", "article", "c1", "cur", "How we onboard"))
    await world.handle(ie.PostCreated(meta(), "p3", "announcement", "c1", "ann", "Office closed"))
    texts = [n.text for n in (await world.inbox_uc.list_notifications(who("cat"), False, 10, "")).items]
    assert sorted(texts) == [
        "New announcement: \u201cOffice closed\u201d",
        "New article: \u201cHow we onboard\u201d",
        "New resource: \u201cOnboarding guide\u201d",
    ]
    assert sorted(world.feed.items) == ["announcement:p3", "article:p2", "resource:r1"]
    # ann's own announcement is not mailed to her; nobody else but ann asked for these emails.
    assert sorted((e.to, e.subject) for e in world.emails.queued) == [
        ("ann@example.com", "New in your community"),
        ("ann@example.com", "New in your community"),
    ]
    assert world.inbox.notifications == {}  # the emails do not add a second copy to her inbox


async def test_the_membership_read_model_follows_community_events(world: World) -> None:
    await world.handle(ie.MemberJoined(meta(), "c3", "eve", ""))
    joined = await world.memberships.get("c3", "eve")
    assert joined is not None
    assert joined.role == "member"
    await world.handle(ie.RoleGranted(meta(), "c3", "eve", "owner", "olga"))
    granted = await world.memberships.get("c3", "eve")
    assert granted is not None
    assert (granted.role, granted.join_time) == ("owner", joined.join_time)
    await world.handle(ie.RoleRevoked(meta(), "c3", "eve", ""))
    revoked = await world.memberships.get("c3", "eve")
    assert revoked is not None
    assert revoked.role == "member"
    sent_before_leaving = await world.broadcasts_uc.create(who("own"), "c1", "Hi", "", "")
    assert await world.listed("cat") == [sent_before_leaving.notification_id]
    await world.handle(ie.MemberLeft(meta(), "c1", "cat"))
    assert await world.memberships.get("c1", "cat") is None
    assert await world.listed("cat") == []
    with pytest.raises(PermissionDenied):
        await world.broadcasts_uc.create(who("eve"), "c3", "Hi", "", "")  # no longer a leader
