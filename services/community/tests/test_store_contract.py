"""The ports' contract, kept by the in-memory stores (``tests/memory.py``) and the MongoDB ones alike.

Each test runs on both: ``memory`` in the fast run, ``mongo`` on FerretDB (marked ``servers``). What the
use cases can see of a store is tested here, so the fast service-layer tests stand on honest fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient

import guild_community.adapters
from guild_common.errors import AlreadyExists, NotFound
from guild_common.mongo import Document, collect_schema, ensure_indexes
from guild_common.pagination import Page
from guild_community.adapters.communities_store import MongoCommunityRepository
from guild_community.adapters.experts_store import MongoExpertDirectory
from guild_community.adapters.goals_store import MongoGoalRepository
from guild_community.adapters.people_store import MongoPeopleRepository
from guild_community.adapters.pilot_store import MongoPilotControls
from guild_community.adapters.surveys_store import MongoSurveyRepository
from guild_community.app.ports import (
    CapacityReached,
    CommunityFilter,
    CommunityRepository,
    ExpertDirectory,
    GoalRepository,
    LastOwner,
    MembershipChanged,
    PeopleRepository,
    PilotControlRepository,
    PointsEntry,
    SurveyRepository,
)
from guild_community.config import CommunitySettings
from guild_community.domain.communities import Community, CommunityPatch, Lifecycle, Visibility
from guild_community.domain.experts import ALL_COMMUNITIES, DECLARED_BONUS
from guild_community.domain.goals import Goal, GoalMetric, GoalSet
from guild_community.domain.membership import (
    Invitation,
    JoinRequest,
    JoinRequested,
    LeaveReason,
    MemberInvited,
    MemberLeft,
    Membership,
    Role,
)
from guild_community.domain.people import Follow, Profile, ProfilePatch, ProfileUpdated, apply_patch
from guild_community.domain.pilot import PilotControl
from guild_community.domain.surveys import Answer, QuestionType, ResponseSubmitted, Survey
from guild_testing.fixtures import SettingsFactory

from .memory import (
    MemoryCommunityRepository,
    MemoryExpertDirectory,
    MemoryGoalRepository,
    MemoryPeopleRepository,
    MemoryPilotControls,
    MemorySurveyRepository,
)

T = TypeVar("T")
# Times to the millisecond, as MongoDB keeps them.
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@dataclass
class Stores:
    communities: CommunityRepository
    people: PeopleRepository
    surveys: SurveyRepository
    goals: GoalRepository
    controls: PilotControlRepository
    directory: ExpertDirectory


def _ignore(collection: str | None = None, doc_id: Any = None) -> None:
    """An outbox wake nobody listens to (no relay runs in these tests)."""


@pytest.fixture(params=["memory", pytest.param("mongo", marks=pytest.mark.servers)])
def mongo_settings(request: pytest.FixtureRequest) -> CommunitySettings | None:
    """None for the in-memory stores; settings naming a fresh database for the MongoDB ones."""
    if request.param == "memory":
        return None
    request.getfixturevalue("infra")
    settings_for: SettingsFactory = request.getfixturevalue("settings_for")
    settings = settings_for(CommunitySettings)
    assert isinstance(settings, CommunitySettings)
    return settings


@pytest_asyncio.fixture
async def stores(mongo_settings: CommunitySettings | None) -> AsyncIterator[Stores]:
    if mongo_settings is None:
        communities = MemoryCommunityRepository()
        people = MemoryPeopleRepository()
        yield Stores(
            communities,
            people,
            MemorySurveyRepository(),
            MemoryGoalRepository(),
            MemoryPilotControls(),
            MemoryExpertDirectory(communities, people),
        )
        return
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_settings.mongo_uri, tz_aware=True)
    try:
        db = client[mongo_settings.database_name]
        await ensure_indexes(db, collect_schema(guild_community.adapters).indexes)
        yield Stores(
            MongoCommunityRepository(db, on_events=_ignore),
            MongoPeopleRepository(db, on_events=_ignore),
            MongoSurveyRepository(db, on_events=_ignore),
            MongoGoalRepository(db, on_events=_ignore),
            MongoPilotControls(db, on_events=_ignore),
            MongoExpertDirectory(db),
        )
    finally:
        await client.close()


async def _all_pages(read: Callable[[str], Awaitable[Page[T]]]) -> list[T]:
    """Every item of a paged list, checking no page repeats an item."""
    items: list[T] = []
    token = ""
    for _ in range(1000):
        page = await read(token)
        items += page.items
        if not (token := page.next_token):
            return items
    raise AssertionError("no last page")


def _community(
    cid: str,
    *,
    slug: str = "",
    name: str = "",
    owner: str = "olivia",
    visibility: Visibility = Visibility.OPEN,
    lifecycle: Lifecycle = Lifecycle.LIVE,
    programme: str = "sales",
    region: str = "amer",
    pilot_cap: int = 0,
) -> tuple[Community, Membership]:
    return Community.create(
        id=cid,
        slug=slug or f"slug-{cid}",
        name=name or cid,
        description="",
        programme=programme,
        region=region,
        visibility=visibility,
        owner=owner,
        now=T0,
        allowed_regions=["amer", "emea"],
        lifecycle=lifecycle,
        pilot_cap=pilot_cap,
    )


async def _add(stores: Stores, cid: str, **fields: Any) -> Community:
    community, owner = _community(cid, **fields)
    return await stores.communities.add_community(community, owner)


def _member(cid: str, member_id: str, seconds: float = 1, role: Role = Role.MEMBER) -> Membership:
    return Membership(cid, member_id, role, at(seconds))


async def _join(stores: Stores, community: Community, member_id: str, seconds: float = 1) -> bool:
    membership = _member(community.id, member_id, seconds)
    return await stores.communities.add_membership(membership, [], cap=0)


def _left(cid: str, member_id: str) -> MemberLeft:
    return MemberLeft(cid, member_id, LeaveReason.LEFT, member_id, "amer", "sales", at(100))


def _count(c: Community | None) -> int:
    assert c is not None
    return c.member_count


# Communities


async def test_adding_a_community_again_returns_the_stored_one(stores: Stores) -> None:
    first = await _add(stores, "c1", name="First")
    again = await _add(stores, "c1", name="Renamed")
    assert (first.name, again.name) == ("First", "First")
    stored = await stores.communities.get_community("c1")
    assert stored is not None
    assert (stored.slug, stored.member_count, stored.version) == ("slug-c1", 1, 1)
    owner = await stores.communities.get_membership("c1", "olivia")
    assert owner is not None
    assert owner.role == Role.OWNER
    assert await stores.communities.get_community("c2") is None


async def test_a_taken_slug_is_already_exists(stores: Stores) -> None:
    await _add(stores, "c1", slug="shared")
    with pytest.raises(AlreadyExists) as taken:
        await _add(stores, "c2", slug="shared", owner="pat")
    assert taken.value.reason == "SLUG_TAKEN"
    assert await stores.communities.get_community("c2") is None
    assert await stores.communities.get_membership("c2", "pat") is None


async def test_update_applies_a_change_with_events_and_moves_the_version(stores: Stores) -> None:
    await _add(stores, "c1")
    updated = await stores.communities.update_community(
        "c1", lambda c: c.update(CommunityPatch(name="New name"), "olivia", at(5))
    )
    assert (updated.name, updated.version, updated.member_count) == ("New name", 2, 1)
    assert updated.events == []
    stored = await stores.communities.get_community("c1")
    assert stored is not None
    assert (stored.name, stored.version) == ("New name", 2)


async def test_an_update_that_raises_or_misses_changes_nothing(stores: Stores) -> None:
    await _add(stores, "c1")

    def refuse(c: Community) -> None:
        c.name = "half-done"
        c.change_lifecycle(Lifecycle.DRAFT, "olivia", at(5))  # live cannot go back to draft

    with pytest.raises(Exception, match="cannot move"):
        await stores.communities.update_community("c1", refuse)
    stored = await stores.communities.get_community("c1")
    assert stored is not None
    assert (stored.name, stored.lifecycle, stored.version) == ("c1", Lifecycle.LIVE, 1)
    with pytest.raises(NotFound) as missing:
        await stores.communities.update_community("nope", lambda c: None)
    assert missing.value.reason == "COMMUNITY_NOT_FOUND"


async def test_communities_list_by_name_with_filters_and_pages(stores: Stores) -> None:
    await _add(stores, "c1", name="beta")
    await _add(stores, "c2", name="Alpha", region="emea")
    await _add(stores, "c3", name="alpha")
    await _add(stores, "c4", name="Gamma", lifecycle=Lifecycle.DRAFT, programme="support")
    await _add(stores, "c5", name="Alpha hidden", visibility=Visibility.HIDDEN, owner="hal")

    async def ids(where: CommunityFilter, size: int = 2) -> list[str]:
        found = await _all_pages(lambda t: stores.communities.list_communities(where, size, t))
        return [c.id for c in found]

    assert await ids(CommunityFilter()) == ["c2", "c3", "c1", "c4"]
    assert await ids(CommunityFilter(), size=10) == ["c2", "c3", "c1", "c4"]
    assert await ids(CommunityFilter(name_prefix=" ALP")) == ["c2", "c3"]
    assert await ids(CommunityFilter(region="emea")) == ["c2"]
    assert await ids(CommunityFilter(programme="support", lifecycle=Lifecycle.DRAFT)) == ["c4"]
    assert await ids(CommunityFilter(visibility=Visibility.HIDDEN)) == []
    assert await ids(CommunityFilter(member_id="hal")) == ["c5"]
    assert await ids(CommunityFilter(member_id="olivia", visibility=Visibility.OPEN)) == [
        "c2",
        "c3",
        "c1",
        "c4",
    ]


# Memberships


async def test_a_membership_is_added_once_and_counted_once(stores: Stores) -> None:
    community = await _add(stores, "c1")
    assert await _join(stores, community, "ann")
    assert not await _join(stores, community, "ann", seconds=9)
    stored = await stores.communities.get_membership("c1", "ann")
    assert stored == _member("c1", "ann")
    assert _count(await stores.communities.get_community("c1")) == 2


async def test_a_capped_community_refuses_seats_beyond_its_cap(stores: Stores) -> None:
    community = await _add(stores, "p1", lifecycle=Lifecycle.PILOT, pilot_cap=2)
    assert await stores.communities.add_membership(_member("p1", "ann"), [], cap=2)
    with pytest.raises(CapacityReached) as full:
        await stores.communities.add_membership(_member("p1", "bob"), [], cap=2)
    assert full.value.cap == 2
    with pytest.raises(CapacityReached):
        await stores.communities.add_memberships(community, [_member("p1", "cy")], cap=2)
    assert _count(await stores.communities.get_community("p1")) == 2
    assert await stores.communities.get_membership("p1", "bob") is None


async def test_many_memberships_keep_existing_ones_and_report_the_count(stores: Stores) -> None:
    community = await _add(stores, "c1")
    await _join(stores, community, "ann")
    cohort = [_member("c1", m, 3) for m in ("ann", "bob", "cy")]
    assert await stores.communities.add_memberships(community, cohort) == (2, 4)
    assert await stores.communities.add_memberships(community, cohort) == (0, 4)
    assert await stores.communities.existing_members("c1", ["ann", "cy", "dan"]) == {"ann", "cy"}
    ann = await stores.communities.get_membership("c1", "ann")
    assert ann is not None
    assert ann.join_time == at(1)  # kept, not replaced


async def test_bans_are_idempotent_and_read_back(stores: Stores) -> None:
    await _add(stores, "c1")
    await stores.communities.add_ban("c1", "zed", "olivia", at(2))
    await stores.communities.add_ban("c1", "zed", "olivia", at(3))
    assert await stores.communities.is_banned("c1", "zed")
    assert not await stores.communities.is_banned("c2", "zed")
    assert await stores.communities.banned_among("c1", ["ann", "zed"]) == {"zed"}


async def test_removing_a_membership_counts_it_out_once(stores: Stores) -> None:
    community = await _add(stores, "c1")
    await _join(stores, community, "ann")
    ann = await stores.communities.get_membership("c1", "ann")
    assert ann is not None
    assert await stores.communities.remove_membership(ann, _left("c1", "ann"))
    assert not await stores.communities.remove_membership(ann, _left("c1", "ann"))
    assert await stores.communities.get_membership("c1", "ann") is None
    assert _count(await stores.communities.get_community("c1")) == 1


async def test_removing_a_membership_read_before_a_change_is_refused(stores: Stores) -> None:
    community = await _add(stores, "c1")
    await _join(stores, community, "ann")
    read = await stores.communities.get_membership("c1", "ann")
    assert read is not None
    await stores.communities.update_membership(
        "c1", "ann", Role.MEMBER, Role.CURATOR, _set_role(Role.CURATOR)
    )
    with pytest.raises(MembershipChanged):
        await stores.communities.remove_membership(read, _left("c1", "ann"))
    assert await stores.communities.get_membership("c1", "ann") is not None


def _set_role(role: Role) -> Callable[[Membership], list[Any]]:
    def change(m: Membership) -> list[Any]:
        m.role = role
        return []

    return change


async def test_role_changes_are_guarded_by_the_role_read(stores: Stores) -> None:
    community = await _add(stores, "c1")
    await _join(stores, community, "ann")
    changed = await stores.communities.update_membership(
        "c1", "ann", Role.MEMBER, Role.MODERATOR, _set_role(Role.MODERATOR)
    )
    assert changed.role == Role.MODERATOR
    with pytest.raises(MembershipChanged):
        await stores.communities.update_membership(
            "c1", "ann", Role.MEMBER, Role.CURATOR, _set_role(Role.CURATOR)
        )
    with pytest.raises(NotFound) as missing:
        await stores.communities.update_membership(
            "c1", "bob", Role.MEMBER, Role.CURATOR, _set_role(Role.CURATOR)
        )
    assert missing.value.reason == "MEMBERSHIP_NOT_FOUND"
    stored = await stores.communities.get_membership("c1", "ann")
    assert stored is not None
    assert stored.role == Role.MODERATOR


async def test_the_last_owner_cannot_go(stores: Stores) -> None:
    community = await _add(stores, "c1")
    olivia = await stores.communities.get_membership("c1", "olivia")
    assert olivia is not None
    with pytest.raises(LastOwner):
        await stores.communities.update_membership(
            "c1", "olivia", Role.OWNER, Role.MEMBER, _set_role(Role.MEMBER)
        )
    with pytest.raises(LastOwner):
        await stores.communities.remove_membership(olivia, _left("c1", "olivia"))
    # With a second owner, one of them may go; then the other is the last again.
    await _join(stores, community, "otto")
    await stores.communities.update_membership("c1", "otto", Role.MEMBER, Role.OWNER, _set_role(Role.OWNER))
    assert await stores.communities.remove_membership(olivia, _left("c1", "olivia"))
    with pytest.raises(LastOwner):
        await stores.communities.update_membership(
            "c1", "otto", Role.OWNER, Role.MEMBER, _set_role(Role.MEMBER)
        )
    otto = await stores.communities.get_membership("c1", "otto")
    assert otto is not None
    assert otto.role == Role.OWNER


async def test_members_list_in_join_order_by_role_without_leavers(stores: Stores) -> None:
    community = await _add(stores, "c1")
    names = [f"m{n}" for n in range(7)]
    for n, name in enumerate(names[:3]):
        await _join(stores, community, name, seconds=n + 1)
    enrolled = [Membership("c1", m, Role.MEMBER, at(10), enrolled_by="hr") for m in names[3:]]
    await stores.communities.add_memberships(community, enrolled)
    await stores.communities.update_membership("c1", "m4", Role.MEMBER, Role.CURATOR, _set_role(Role.CURATOR))
    m1 = await stores.communities.get_membership("c1", "m1")
    assert m1 is not None
    await stores.communities.remove_membership(m1, _left("c1", "m1"))
    await _join(stores, community, "m1", seconds=20)  # a rejoin goes to the end

    everyone = await _all_pages(lambda t: stores.communities.list_members("c1", None, 3, t))
    assert [m.member_id for m in everyone] == ["olivia", "m0", "m2", "m3", "m4", "m5", "m6", "m1"]
    assert everyone[4] == Membership("c1", "m4", Role.CURATOR, at(10))
    assert everyone[-1].join_time == at(20)
    curators = await _all_pages(lambda t: stores.communities.list_members("c1", Role.CURATOR, 3, t))
    assert [m.member_id for m in curators] == ["m4"]
    assert list((await stores.communities.list_members("c2", None, 3, "")).items) == []


# Join requests and invitations


async def test_a_join_request_is_added_once_listed_in_order_and_deleted(stores: Stores) -> None:
    for n, who in enumerate(["bob", "ann", "cy"]):
        request = JoinRequest("c1", who, at(n))
        assert (
            await stores.communities.add_join_request(request, JoinRequested(request, "amer", "sales"))
            == request
        )
    later = JoinRequest("c1", "bob", at(50))
    assert await stores.communities.add_join_request(
        later, JoinRequested(later, "amer", "sales")
    ) == JoinRequest("c1", "bob", at(0))
    listed = await _all_pages(lambda t: stores.communities.list_join_requests("c1", 2, t))
    assert [r.member_id for r in listed] == ["bob", "ann", "cy"]
    assert await stores.communities.get_join_request("c1", "ann") == JoinRequest("c1", "ann", at(1))
    assert await stores.communities.delete_join_request("c1", "ann")
    assert not await stores.communities.delete_join_request("c1", "ann")
    assert await stores.communities.get_join_request("c1", "ann") is None


async def test_invitations_are_added_once_singly_or_in_bulk(stores: Stores) -> None:
    first = Invitation("c1", "ann", "olivia", at(1))
    assert await stores.communities.add_invitation(first, MemberInvited(first, "amer", "sales")) == first
    again = Invitation("c1", "ann", "mo", at(2))
    assert await stores.communities.add_invitation(again, MemberInvited(again, "amer", "sales")) == first
    bulk = [Invitation("c1", m, "mo", at(3)) for m in ("ann", "bob", "cy")]
    assert await stores.communities.add_invitations(bulk, "amer", "sales") == 2
    assert await stores.communities.add_invitations(bulk, "amer", "sales") == 0
    assert await stores.communities.get_invitation("c1", "bob") == bulk[1]
    await stores.communities.delete_invitation("c1", "bob")
    await stores.communities.delete_invitation("c1", "bob")
    assert await stores.communities.get_invitation("c1", "bob") is None


# People


def _patch(**fields: Any) -> Callable[[Profile], tuple[Profile, list[Any]]]:
    patch = ProfilePatch(**fields)

    def change(p: Profile) -> tuple[Profile, list[Any]]:
        updated = apply_patch(p, patch, ["amer", "emea"], at(5))
        return updated, [ProfileUpdated(updated, patch.fields())]

    return change


async def test_a_profile_is_started_by_its_first_update_and_keeps_its_counters(stores: Stores) -> None:
    assert await stores.people.get_profile("ann") is None
    await stores.people.add_follow(Follow("bob", "ann", at(1)))
    updated = await stores.people.update_profile("ann", _patch(display_name="Ann", expertise=["Python"]))
    assert (updated.display_name, updated.expertise, updated.follower_count) == ("Ann", ["python"], 1)
    again = await stores.people.update_profile("ann", _patch(job_title="Engineer"))
    assert (again.display_name, again.job_title) == ("Ann", "Engineer")
    stored = await stores.people.get_profile("ann")
    assert stored is not None
    assert (stored.display_name, stored.job_title, stored.follower_count, stored.following_count) == (
        "Ann",
        "Engineer",
        1,
        0,
    )
    assert stored.update_time == at(5)


async def test_follows_are_added_once_counted_and_removed_once(stores: Stores) -> None:
    follow = Follow("bob", "ann", at(1))
    assert await stores.people.add_follow(follow)
    assert not await stores.people.add_follow(Follow("bob", "ann", at(2)))
    assert await stores.people.get_follow("bob", "ann") == follow
    bob = await stores.people.get_profile("bob")
    assert bob is not None
    assert bob.following_count == 1
    assert await stores.people.remove_follow(follow, at(3))
    assert not await stores.people.remove_follow(follow, at(4))
    assert await stores.people.get_follow("bob", "ann") is None
    ann = await stores.people.get_profile("ann")
    assert ann is not None
    assert ann.follower_count == 0


async def test_follows_list_newest_first_in_pages(stores: Stores) -> None:
    for n, who in enumerate(["a1", "a2", "a3", "a4", "a5"]):
        await stores.people.add_follow(Follow(who, "star", at(n)))
    await stores.people.add_follow(Follow("a1", "other", at(9)))
    seen: list[str] = []
    token = ""
    while True:
        follows, token = await stores.people.list_follows(
            field="followee_id", member_id="star", page_size=2, page_token=token
        )
        seen += [f.follower_id for f in follows]
        if not token:
            break
    assert seen == ["a5", "a4", "a3", "a2", "a1"]
    following, _ = await stores.people.list_follows(
        field="follower_id", member_id="a1", page_size=10, page_token=""
    )
    assert [f.followee_id for f in following] == ["other", "star"]


# Surveys


def _survey(sid: str = "s1") -> Survey:
    return Survey.draft(
        id=sid,
        community_id="c1",
        title="Pulse",
        questions=[("How was it?", QuestionType.RATING, []), ("Anything else?", QuestionType.FREE_TEXT, [])],
        created_by="olivia",
        now=at(0),
    )


def _submitted(survey: Survey, member_id: str) -> Callable[[bool], ResponseSubmitted]:
    return lambda replaced: ResponseSubmitted(survey, member_id, replaced, "amer", "sales", at(7))


async def test_a_survey_is_added_once_and_changed_under_its_rules(stores: Stores) -> None:
    survey = _survey()
    assert (await stores.surveys.add_survey(survey)).id == "s1"
    assert (await stores.surveys.add_survey(replace(_survey(), title="Other"))).title == "Pulse"
    opened = await stores.surveys.update_survey("s1", lambda s: s.open("olivia", "amer", "sales", at(1)))
    assert opened.open_time == at(1)
    assert opened.events == []
    with pytest.raises(Exception, match="the survey is open"):
        await stores.surveys.update_survey("s1", lambda s: s.open("olivia", "amer", "sales", at(2)))
    stored = await stores.surveys.get_survey("s1")
    assert stored is not None
    assert (stored.state.value, stored.open_time) == ("open", at(1))
    with pytest.raises(NotFound) as missing:
        await stores.surveys.update_survey("s9", lambda s: None)
    assert missing.value.reason == "SURVEY_NOT_FOUND"


async def test_responses_count_once_per_member_and_page_their_texts(stores: Stores) -> None:
    survey = await stores.surveys.add_survey(_survey())
    for n, who in enumerate(["ann", "bob", "cy"]):
        answers = [Answer("q1", score=3), Answer("q2", text=f"from {who}")]
        assert not await stores.surveys.put_response(
            survey, who, answers, at(10 + n), _submitted(survey, who)
        )
    replaced = await stores.surveys.put_response(
        survey, "ann", [Answer("q1", score=5)], at(20), _submitted(survey, "ann")
    )
    assert replaced
    stored = await stores.surveys.get_survey("s1")
    assert stored is not None
    assert stored.response_count == 3
    responses = await stores.surveys.all_answers("s1")
    assert sorted(r[0].score for r in responses) == [3, 3, 5]
    seen: list[tuple[str, str]] = []
    token = ""
    while True:
        texts, token = await stores.surveys.free_text("s1", "q2", 1, token)
        seen += texts
        if not token:
            break
    assert seen == [("cy", "from cy"), ("bob", "from bob")]  # newest first; ann's text was replaced away


# Goals and pilot controls


def _goal(gid: str, seconds: float, target: float = 50.0) -> Goal:
    return Goal(
        gid,
        "c1",
        GoalMetric.CONTRIBUTORS_PCT,
        target,
        at(86_400),
        Lifecycle.PILOT,
        "olivia",
        at(seconds),
    )


async def test_goals_are_added_once_and_listed_oldest_first(stores: Stores) -> None:
    for n, gid in enumerate(["g3", "g1", "g2"]):
        goal = _goal(gid, n)
        assert await stores.goals.add_goal(goal, GoalSet(goal, "amer", "sales")) == goal
    retried = _goal("g1", 30, target=90)
    assert (await stores.goals.add_goal(retried, GoalSet(retried, "amer", "sales"))).target == 50.0
    listed = await _all_pages(lambda t: stores.goals.list_goals("c1", 2, t))
    assert [g.id for g in listed] == ["g3", "g1", "g2"]
    assert listed[1] == _goal("g1", 1)
    assert list((await stores.goals.list_goals("c2", 2, "")).items) == []


async def test_each_control_set_is_the_next_version(stores: Stores) -> None:
    assert await stores.controls.get_control("c1") is None
    control = PilotControl("c1", "c2", (), "olivia", at(1))
    first = await stores.controls.set_control(control, "amer", "sales")
    second = await stores.controls.set_control(
        PilotControl("c1", "", ("a", "b", "c", "d", "e"), "olivia", at(2)), "amer", "sales"
    )
    assert (first.version, second.version) == (1, 2)
    stored = await stores.controls.get_control("c1")
    assert stored == PilotControl("c1", "", ("a", "b", "c", "d", "e"), "olivia", at(2), version=2)


# The expert directory


async def _experts(stores: Stores, scope: str, tag: str, size: int = 2) -> list[tuple[str, int, bool]]:
    found = await _all_pages(lambda t: stores.directory.list_experts(scope, tag, size, t))
    return [(e.member_id, e.score, e.declared) for e in found]


async def _earn(stores: Stores, entry: str, cid: str, member_id: str, amount: int, *tags: str) -> None:
    await stores.directory.add_points(PointsEntry(entry, cid, member_id, amount, list(tags), at(1)))
    await stores.directory.refresh(cid, member_id, list(tags))
    await stores.directory.refresh(ALL_COMMUNITIES, member_id, list(tags))


async def test_points_count_once_and_members_are_listed_by_score(stores: Stores) -> None:
    community = await _add(stores, "c1")
    for who in ("ann", "bob", "cy"):
        await _join(stores, community, who)
    await _earn(stores, "e1", "c1", "ann", 10, "python")
    await _earn(stores, "e1", "c1", "ann", 10, "python")  # redelivered
    await _earn(stores, "e2", "c1", "bob", 30, "python", "go")
    await _earn(stores, "e3", "c1", "cy", 10, "python")
    await _earn(stores, "e4", "c1", "outsider", 99, "python")  # not a member: not listed here
    assert await _experts(stores, "c1", "python") == [
        ("bob", 30, False),
        ("ann", 10, False),
        ("cy", 10, False),
    ]
    assert await _experts(stores, ALL_COMMUNITIES, "python") == [
        ("outsider", 99, False),
        ("bob", 30, False),
        ("ann", 10, False),
        ("cy", 10, False),
    ]
    assert await stores.directory.earners_in("c1") == {
        ("python", "ann"),
        ("python", "bob"),
        ("go", "bob"),
        ("python", "cy"),
        ("python", "outsider"),
    }


async def test_declared_expertise_lists_members_with_a_bonus_and_leaving_unlists(stores: Stores) -> None:
    community = await _add(stores, "c1")
    await _join(stores, community, "ann")
    await stores.people.update_profile("ann", _patch(display_name="Ann", job_title="Dev", expertise=["rust"]))
    await stores.directory.refresh("c1", "ann")
    [expert] = (await stores.directory.list_experts("c1", "rust", 10, "")).items
    assert (expert.member_id, expert.score, expert.declared) == ("ann", DECLARED_BONUS, True)
    assert (expert.display_name, expert.job_title) == ("Ann", "Dev")
    assert await stores.directory.communities_of("ann") == ["c1"]
    ann = await stores.communities.get_membership("c1", "ann")
    assert ann is not None
    await stores.communities.remove_membership(ann, _left("c1", "ann"))
    await stores.directory.refresh("c1", "ann")
    assert await _experts(stores, "c1", "rust") == []


async def test_points_in_a_hidden_community_stay_out_of_the_all_communities_directory(stores: Stores) -> None:
    await _add(stores, "c1")
    hidden = await _add(stores, "c2", visibility=Visibility.HIDDEN)
    await _join(stores, hidden, "ann")
    await _earn(stores, "e1", "c1", "ann", 5, "sql")
    await _earn(stores, "e2", "c2", "ann", 20, "sql")
    assert await _experts(stores, ALL_COMMUNITIES, "sql") == [("ann", 5, False)]
    assert await _experts(stores, "c2", "sql") == [("ann", 20, False)]
    # Shown again: a recount brings its points in.
    await stores.communities.update_community(
        "c2", lambda c: c.update(CommunityPatch(visibility=Visibility.OPEN), "olivia", at(9))
    )
    await stores.directory.recount("ann", "sql")
    assert await _experts(stores, ALL_COMMUNITIES, "sql") == [("ann", 25, False)]
