"""In-memory implementations of the community service's ports, for fast tests of the use cases and handlers.

They keep the contract of the MongoDB stores (``guild_community.adapters``) where the use cases can see
it, and ``test_store_contract`` runs the same tests on both: guarded updates raise what the stores raise
(``AlreadyExists``, ``NotFound``, ``CapacityReached``, ``LastOwner``, ``MembershipChanged``), adds are
idempotent and return what is stored, lists page in the stores' order behind signed tokens
(``guild_testing.memory.keyset_page``), and every write records the events it would publish, in order,
in its store's ``events``.

No method awaits between reading and writing its state, so each write is atomic however many tasks run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from guild_common.auth import Principal
from guild_common.errors import AlreadyExists, NotFound, Unavailable
from guild_common.pagination import Page
from guild_community.app.communities import CommunityUseCases, NewCommunity
from guild_community.app.experts import ExpertQueries
from guild_community.app.experts_handlers import ExpertEventHandlers
from guild_community.app.goals import GoalUseCases
from guild_community.app.membership import MembershipUseCases
from guild_community.app.people import PeopleUseCases
from guild_community.app.pilot import PilotControlUseCases
from guild_community.app.ports import (
    CapacityReached,
    CommunityFilter,
    LastOwner,
    MembershipChanged,
    PointsEntry,
)
from guild_community.app.surveys import SurveyUseCases
from guild_community.domain.communities import (
    Community,
    DomainEvent,
    Lifecycle,
    Visibility,
    name_key,
    prefix_key,
)
from guild_community.domain.experts import (
    ALL_COMMUNITIES,
    DECLARED_BONUS,
    Expert,
    expert_score,
    is_listed,
)
from guild_community.domain.goals import Goal, GoalMetric, GoalSet, Measurement
from guild_community.domain.membership import (
    Invitation,
    JoinRequest,
    JoinRequested,
    MemberInvited,
    MemberJoined,
    MemberLeft,
    Membership,
    Role,
    membership_key,
)
from guild_community.domain.people import (
    Follow,
    Followed,
    PeopleEvent,
    Profile,
    Unfollowed,
    follow_key,
)
from guild_community.domain.pilot import PilotComparison, PilotControl
from guild_community.domain.surveys import Answer, ResponseSubmitted, Survey, SurveyEvent
from guild_community.entrypoints.grpc.community_service import CommunityServicer
from guild_testing.memory import SteppingClock, keyset_page

# Chunk of a bulk enrolment that takes its seats at once (as the store does).
ENROL_CHUNK = 1000
# The window reputation measures a goal over.
MEASURED_SPAN = timedelta(days=30)


async def _turn() -> None:
    """Let other tasks run, as a store's round trip does: tasks then interleave between a use case's
    reads and writes as they do on MongoDB, while each store operation itself stays atomic."""
    await asyncio.sleep(0)


def _millis(t: datetime) -> int:
    """A time as a sort key (the stores keep milliseconds)."""
    return int(t.timestamp() * 1000)


def _copy_community(c: Community) -> Community:
    return replace(c, events=[])


class MemoryCommunityRepository:
    """``CommunityRepository``: communities, memberships (in join order, as the roster keeps them), join
    requests, invitations and bans. ``events`` holds what each write would publish."""

    def __init__(self) -> None:
        self.events: list[DomainEvent] = []
        self._communities: dict[str, Community] = {}
        self._owners: dict[str, int] = {}
        self._memberships: dict[str, Membership] = {}
        # Roster position of each membership: its order in the community's member listing.
        self._places: dict[str, int] = {}
        self._next_place = 0
        self._join_requests: dict[str, JoinRequest] = {}
        self._invitations: dict[str, Invitation] = {}
        self._bans: set[str] = set()

    # Communities

    async def add_community(self, community: Community, owner: Membership) -> Community:
        await _turn()
        existing = self._communities.get(community.id)
        if existing is not None and existing.created_by == community.created_by:
            return _copy_community(existing)
        if existing is not None or any(c.slug == community.slug for c in self._communities.values()):
            raise AlreadyExists(
                f"slug {community.slug!r} is taken", reason="SLUG_TAKEN", metadata={"slug": community.slug}
            )
        if owner.key not in self._memberships:
            self._store_membership(owner)
        self._communities[community.id] = _copy_community(community)
        self._owners[community.id] = 1
        self.events.extend(community.events)
        community.events.clear()
        return community

    async def get_community(self, community_id: str) -> Community | None:
        await _turn()
        stored = self._communities.get(community_id)
        return _copy_community(stored) if stored is not None else None

    async def update_community(self, community_id: str, change: Callable[[Community], None]) -> Community:
        await _turn()
        stored = self._communities.get(community_id)
        if stored is None:
            raise NotFound(f"community {community_id} not found", reason="COMMUNITY_NOT_FOUND")
        community = _copy_community(stored)
        change(community)
        if not community.events:
            return _copy_community(stored)
        stored.name = community.name
        stored.description = community.description
        stored.visibility = community.visibility
        stored.lifecycle = community.lifecycle
        stored.auto_hide_flag_threshold = community.auto_hide_flag_threshold
        stored.pilot_cap = community.pilot_cap
        stored.version += 1
        self.events.extend(community.events)
        return _copy_community(stored)

    async def list_communities(
        self, where: CommunityFilter, page_size: int, page_token: str
    ) -> Page[Community]:
        await _turn()
        found = list(self._communities.values())
        if where.programme:
            found = [c for c in found if c.programme == where.programme]
        if where.region:
            found = [c for c in found if c.region == where.region]
        if where.lifecycle is not None:
            found = [c for c in found if c.lifecycle == where.lifecycle]
        if where.member_id:
            mine = {m.community_id for m in self._memberships.values() if m.member_id == where.member_id}
            found = [c for c in found if c.id in mine]
            if where.visibility is not None:
                found = [c for c in found if c.visibility == where.visibility]
        elif where.visibility is None:
            found = [c for c in found if c.visibility != Visibility.HIDDEN]
        elif where.visibility == Visibility.HIDDEN:
            return Page([], "")
        else:
            found = [c for c in found if c.visibility == where.visibility]
        if where.name_prefix:
            prefix = prefix_key(where.name_prefix)
            found = [c for c in found if name_key(c.name).startswith(prefix)]
        page = keyset_page(found, lambda c: (name_key(c.name), c.id), page_token, page_size)
        return Page([_copy_community(c) for c in page.items], page.next_token)

    # Memberships

    def _store_membership(self, membership: Membership) -> None:
        self._memberships[membership.key] = replace(membership)
        self._places[membership.key] = self._next_place
        self._next_place += 1

    def _take_seats(self, community_id: str, count: int, cap: int) -> None:
        """Count ``count`` more members, or raise CapacityReached (as ``adapters.seats`` refuses)."""
        community = self._communities.get(community_id)
        if community is None or (cap and community.member_count > cap - count):
            raise CapacityReached(cap)
        community.member_count += count

    def _give_back(self, community_id: str, count: int) -> None:
        community = self._communities.get(community_id)
        if community is not None:
            community.member_count -= count

    async def get_membership(self, community_id: str, member_id: str) -> Membership | None:
        await _turn()
        stored = self._memberships.get(membership_key(community_id, member_id))
        return replace(stored) if stored is not None else None

    async def add_membership(
        self, membership: Membership, events: list[DomainEvent], *, cap: int = 0
    ) -> bool:
        await _turn()
        self._take_seats(membership.community_id, 1, cap)
        if membership.key in self._memberships:
            self._give_back(membership.community_id, 1)
            return False
        self._store_membership(membership)
        self.events.extend(
            e for e in events if isinstance(e, MemberJoined) and e.membership.key == membership.key
        )
        return True

    async def add_memberships(
        self, community: Community, memberships: Sequence[Membership], *, cap: int = 0
    ) -> tuple[int, int]:
        await _turn()
        inserted = 0
        for start in range(0, len(memberships), ENROL_CHUNK):
            part = memberships[start : start + ENROL_CHUNK]
            self._take_seats(community.id, len(part), cap)
            stored = 0
            for m in part:
                if m.key in self._memberships:
                    continue
                self._store_membership(m)
                self.events.append(MemberJoined(replace(m), community.region, community.programme))
                stored += 1
            inserted += stored
            self._give_back(community.id, len(part) - stored)
        counted = self._communities.get(community.id)
        return inserted, counted.member_count if counted is not None else 0

    async def existing_members(self, community_id: str, member_ids: Sequence[str]) -> set[str]:
        await _turn()
        return {m for m in member_ids if membership_key(community_id, m) in self._memberships}

    async def banned_among(self, community_id: str, member_ids: Sequence[str]) -> set[str]:
        await _turn()
        return {m for m in member_ids if membership_key(community_id, m) in self._bans}

    async def remove_membership(self, membership: Membership, event: MemberLeft) -> bool:
        await _turn()
        community_id = membership.community_id
        if membership.role == Role.OWNER and self._owners.get(community_id, 0) <= 1:
            raise LastOwner(community_id)
        stored = self._memberships.get(membership.key)
        if stored is None:
            return False
        if stored.role != membership.role or stored.join_time != membership.join_time:
            raise MembershipChanged(membership.key)
        del self._memberships[membership.key]
        del self._places[membership.key]
        if stored.role == Role.OWNER:
            self._owners[community_id] -= 1
        self._give_back(community_id, 1)
        self.events.append(event)
        return True

    async def update_membership(
        self,
        community_id: str,
        member_id: str,
        expected: Role,
        role: Role,
        change: Callable[[Membership], list[DomainEvent]],
    ) -> Membership:
        await _turn()
        key = membership_key(community_id, member_id)
        losing, gaining = expected == Role.OWNER != role, role == Role.OWNER != expected
        if losing and self._owners.get(community_id, 0) <= 1:
            raise LastOwner(community_id)
        stored = self._memberships.get(key)
        if stored is None:
            raise NotFound(f"{member_id} is not a member of {community_id}", reason="MEMBERSHIP_NOT_FOUND")
        if stored.role != expected:
            raise MembershipChanged(key)
        membership = replace(stored)
        events = change(membership)
        stored.role = membership.role
        self._owners[community_id] = self._owners.get(community_id, 0) - losing + gaining
        self.events.extend(events)
        return membership

    async def list_members(
        self, community_id: str, role: Role | None, page_size: int, page_token: str
    ) -> Page[Membership]:
        await _turn()
        members = [
            m
            for m in self._memberships.values()
            if m.community_id == community_id and (role is None or m.role == role)
        ]
        page = keyset_page(members, lambda m: (self._places[m.key],), page_token, page_size)
        # The roster keeps who, what role and since when; not who enrolled them.
        return Page([replace(m, enrolled_by="") for m in page.items], page.next_token)

    # Join requests, invitations, bans

    async def add_join_request(self, request: JoinRequest, event: JoinRequested) -> JoinRequest:
        await _turn()
        key = membership_key(request.community_id, request.member_id)
        stored = self._join_requests.get(key)
        if stored is not None:
            return stored
        self._join_requests[key] = request
        self.events.append(event)
        return request

    async def get_join_request(self, community_id: str, member_id: str) -> JoinRequest | None:
        await _turn()
        return self._join_requests.get(membership_key(community_id, member_id))

    async def delete_join_request(self, community_id: str, member_id: str) -> bool:
        await _turn()
        return self._join_requests.pop(membership_key(community_id, member_id), None) is not None

    async def list_join_requests(
        self, community_id: str, page_size: int, page_token: str
    ) -> Page[JoinRequest]:
        await _turn()
        requests = [r for r in self._join_requests.values() if r.community_id == community_id]
        return keyset_page(
            requests,
            lambda r: (_millis(r.create_time), membership_key(r.community_id, r.member_id)),
            page_token,
            page_size,
        )

    async def add_invitation(self, invitation: Invitation, event: MemberInvited) -> Invitation:
        await _turn()
        key = membership_key(invitation.community_id, invitation.member_id)
        stored = self._invitations.get(key)
        if stored is not None:
            return stored
        self._invitations[key] = invitation
        self.events.append(event)
        return invitation

    async def add_invitations(self, invitations: Sequence[Invitation], region: str, programme: str) -> int:
        await _turn()
        inserted = 0
        for i in invitations:
            key = membership_key(i.community_id, i.member_id)
            if key in self._invitations:
                continue
            self._invitations[key] = i
            self.events.append(MemberInvited(i, region, programme))
            inserted += 1
        return inserted

    async def get_invitation(self, community_id: str, member_id: str) -> Invitation | None:
        await _turn()
        return self._invitations.get(membership_key(community_id, member_id))

    async def delete_invitation(self, community_id: str, member_id: str) -> None:
        await _turn()
        self._invitations.pop(membership_key(community_id, member_id), None)

    async def add_ban(self, community_id: str, member_id: str, banned_by: str, when: datetime) -> None:
        await _turn()
        self._bans.add(membership_key(community_id, member_id))

    async def is_banned(self, community_id: str, member_id: str) -> bool:
        await _turn()
        return membership_key(community_id, member_id) in self._bans

    # Read by the expert directory, as the Mongo directory reads the collections

    def communities_of(self, member_id: str) -> list[str]:
        return [m.community_id for m in self._memberships.values() if m.member_id == member_id]

    def is_member(self, community_id: str, member_id: str) -> bool:
        return membership_key(community_id, member_id) in self._memberships

    def is_hidden(self, community_id: str) -> bool:
        community = self._communities.get(community_id)
        return community is not None and community.visibility == Visibility.HIDDEN


class MemoryPeopleRepository:
    """``PeopleRepository``: profiles (with follower counters) and follows."""

    def __init__(self) -> None:
        self.events: list[PeopleEvent] = []
        self._profiles: dict[str, Profile] = {}
        self._follows: dict[str, Follow] = {}
        self._ended: set[str] = set()

    async def get_profile(self, member_id: str) -> Profile | None:
        await _turn()
        stored = self._profiles.get(member_id)
        return _copy_profile(stored) if stored is not None else None

    async def update_profile(
        self, member_id: str, change: Callable[[Profile], tuple[Profile, list[PeopleEvent]]]
    ) -> Profile:
        await _turn()
        current = self._profiles.get(member_id) or Profile(member_id=member_id)
        updated, events = change(_copy_profile(current))
        # The counters are the store's own: a change never sets them.
        self._profiles[member_id] = replace(
            _copy_profile(updated),
            follower_count=current.follower_count,
            following_count=current.following_count,
        )
        self.events.extend(events)
        return updated

    async def add_follow(self, follow: Follow) -> bool:
        await _turn()
        if follow.key in self._follows:
            return False
        self._follows[follow.key] = follow
        self._count(follow, 1)
        self.events.append(Followed(follow))
        return True

    async def get_follow(self, follower_id: str, followee_id: str) -> Follow | None:
        await _turn()
        return self._follows.get(follow_key(follower_id, followee_id))

    async def remove_follow(self, follow: Follow, now: datetime) -> bool:
        await _turn()
        ended_id = f"{follow.key}:{_millis(follow.create_time)}"
        if ended_id not in self._ended:
            self._ended.add(ended_id)
            self.events.append(Unfollowed(follow, now))
        stored = self._follows.get(follow.key)
        if stored is None or stored.create_time != follow.create_time:
            return False
        del self._follows[follow.key]
        self._count(follow, -1)
        return True

    async def list_follows(
        self, *, field: str, member_id: str, page_size: int, page_token: str
    ) -> tuple[list[Follow], str]:
        await _turn()
        follows = [f for f in self._follows.values() if getattr(f, field) == member_id]
        page = keyset_page(
            follows, lambda f: (_millis(f.create_time), f.key), page_token, page_size, descending=True
        )
        return list(page.items), page.next_token

    def _count(self, follow: Follow, delta: int) -> None:
        follower = self._profiles.setdefault(follow.follower_id, Profile(member_id=follow.follower_id))
        follower.following_count += delta
        followee = self._profiles.setdefault(follow.followee_id, Profile(member_id=follow.followee_id))
        followee.follower_count += delta

    # Read by the expert directory

    def expertise(self, member_id: str) -> set[str]:
        stored = self._profiles.get(member_id)
        return set(stored.expertise) if stored is not None else set()


def _copy_profile(p: Profile) -> Profile:
    return replace(p, expertise=list(p.expertise), interests=list(p.interests))


@dataclass
class _Response:
    member_id: str
    answers: list[Answer]
    update_time: datetime


class MemorySurveyRepository:
    """``SurveyRepository``: surveys and one response per member and survey."""

    def __init__(self) -> None:
        self.events: list[SurveyEvent] = []
        self._surveys: dict[str, Survey] = {}
        # survey id -> member id -> response, in order of first submission
        self._responses: dict[str, dict[str, _Response]] = {}

    async def add_survey(self, survey: Survey) -> Survey:
        await _turn()
        stored = self._surveys.get(survey.id)
        if stored is not None:
            return _copy_survey(stored)
        self._surveys[survey.id] = replace(_copy_survey(survey), response_count=0)
        return survey

    async def get_survey(self, survey_id: str) -> Survey | None:
        await _turn()
        stored = self._surveys.get(survey_id)
        return _copy_survey(stored) if stored is not None else None

    async def update_survey(self, survey_id: str, change: Callable[[Survey], None]) -> Survey:
        await _turn()
        stored = self._surveys.get(survey_id)
        if stored is None:
            raise NotFound(f"survey {survey_id} not found", reason="SURVEY_NOT_FOUND")
        survey = _copy_survey(stored)
        change(survey)
        stored.state, stored.open_time, stored.close_time = survey.state, survey.open_time, survey.close_time
        self.events.extend(survey.events)
        survey.events.clear()
        return survey

    async def put_response(
        self,
        survey: Survey,
        member_id: str,
        answers: list[Answer],
        now: datetime,
        event: Callable[[bool], ResponseSubmitted],
    ) -> bool:
        await _turn()
        responses = self._responses.setdefault(survey.id, {})
        replaced = member_id in responses
        responses[member_id] = _Response(member_id, list(answers), now)
        self.events.append(event(replaced))
        stored = self._surveys.get(survey.id)
        if not replaced and stored is not None:
            stored.response_count += 1
        return replaced

    async def all_answers(self, survey_id: str) -> list[list[Answer]]:
        await _turn()
        return [list(r.answers) for r in self._responses.get(survey_id, {}).values()]

    async def free_text(
        self, survey_id: str, question_id: str, page_size: int, page_token: str
    ) -> tuple[list[tuple[str, str]], str]:
        await _turn()
        texts = [
            (r, a.text)
            for r in self._responses.get(survey_id, {}).values()
            for a in r.answers
            if a.question_id == question_id and a.text
        ]
        page = keyset_page(
            texts,
            lambda t: (_millis(t[0].update_time), f"{survey_id}:{t[0].member_id}"),
            page_token,
            page_size,
            descending=True,
        )
        return [(r.member_id, text) for r, text in page.items], page.next_token


def _copy_survey(s: Survey) -> Survey:
    return replace(s, questions=list(s.questions), events=[])


class MemoryGoalRepository:
    """``GoalRepository``: goals by community, in order of creation."""

    def __init__(self) -> None:
        self.events: list[GoalSet] = []
        self._goals: dict[str, Goal] = {}

    async def add_goal(self, goal: Goal, event: GoalSet) -> Goal:
        await _turn()
        stored = self._goals.get(goal.id)
        if stored is not None:
            return stored
        self._goals[goal.id] = goal
        self.events.append(event)
        return goal

    async def list_goals(self, community_id: str, page_size: int, page_token: str) -> Page[Goal]:
        await _turn()
        goals = [g for g in self._goals.values() if g.community_id == community_id]
        return keyset_page(goals, lambda g: (_millis(g.create_time), g.id), page_token, page_size)


@dataclass(frozen=True)
class PilotControlSet:
    """What the pilot_control_set event a control write publishes carries."""

    control: PilotControl
    region: str
    programme: str


class MemoryPilotControls:
    """``PilotControlRepository``: one control per community, versioned."""

    def __init__(self) -> None:
        self.events: list[PilotControlSet] = []
        self._controls: dict[str, PilotControl] = {}

    async def set_control(self, control: PilotControl, region: str, programme: str) -> PilotControl:
        await _turn()
        previous = self._controls.get(control.community_id)
        stored = replace(control, version=(previous.version if previous is not None else 0) + 1)
        self._controls[control.community_id] = stored
        self.events.append(PilotControlSet(stored, region, programme))
        return stored

    async def get_control(self, community_id: str) -> PilotControl | None:
        await _turn()
        return self._controls.get(community_id)


class FakeReputation:
    """``GoalMeasurer`` and ``PilotComparer`` as the reputation client answers them: a metric not measured
    yet is a measurement of no sample; ``unavailable`` makes every call fail as an unreachable service."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, GoalMetric], tuple[float, int]] = {}
        self.comparisons: dict[str, PilotComparison] = {}
        self.unavailable = False
        self.measured: list[tuple[str, GoalMetric, datetime]] = []

    async def measure(self, community_id: str, metric: GoalMetric, until: datetime) -> Measurement:
        await _turn()
        self._check()
        self.measured.append((community_id, metric, until))
        value, sample = self.values.get((community_id, metric), (0.0, 0))
        return Measurement(value, sample, until - MEASURED_SPAN, until)

    async def compare(self, community_id: str, since: datetime, until: datetime) -> PilotComparison | None:
        await _turn()
        self._check()
        return self.comparisons.get(community_id)

    def _check(self) -> None:
        if self.unavailable:
            raise Unavailable(
                "the reputation service could not measure the goals; try again later",
                reason="REPUTATION_UNAVAILABLE",
            )


@dataclass
class _Record:
    points: int = 0
    score: int = 0
    declared: bool = False
    member: bool = False
    listed: bool = False


@dataclass(frozen=True)
class _Ledger:
    community_id: str
    member_id: str
    tag: str
    amount: int


class MemoryExpertDirectory:
    """``ExpertDirectory``: records per (scope, topic, person) settled as the Mongo directory settles
    them, reading profiles, memberships and communities from the in-memory stores."""

    def __init__(self, communities: MemoryCommunityRepository, people: MemoryPeopleRepository) -> None:
        self._communities = communities
        self._people = people
        self._records: dict[tuple[str, str, str], _Record] = {}
        self._ledger: dict[str, _Ledger] = {}
        self._tags: dict[tuple[str, str], set[str]] = {}

    def record(self, scope: str, tag: str, member_id: str) -> _Record | None:
        return self._records.get((scope, tag, member_id))

    def _upsert(self, scope: str, tag: str, member_id: str) -> _Record:
        return self._records.setdefault((scope, tag, member_id), _Record())

    @staticmethod
    def _settle(record: _Record) -> None:
        record.listed = is_listed(record.points, record.declared, record.member)

    async def add_points(self, entry: PointsEntry) -> None:
        await _turn()
        hidden = self._communities.is_hidden(entry.community_id)
        for tag in entry.tags:
            ledger_id = f"{entry.entry_id}:{tag}"
            if ledger_id in self._ledger:
                continue
            self._ledger[ledger_id] = _Ledger(entry.community_id, entry.member_id, tag, entry.amount)
            for scope in [entry.community_id] if hidden else [entry.community_id, ALL_COMMUNITIES]:
                record = self._upsert(scope, tag, entry.member_id)
                record.points += entry.amount
                record.score += entry.amount
                self._settle(record)

    async def refresh(self, scope: str, member_id: str, tags: Sequence[str] = ()) -> None:
        await _turn()
        known = self._tags.setdefault((scope, member_id), set())
        expertise = self._people.expertise(member_id)
        topics = known | expertise | set(tags)
        known.update(topics)
        member = scope == ALL_COMMUNITIES or self._communities.is_member(scope, member_id)
        for tag in sorted(topics):
            record = self._upsert(scope, tag, member_id)
            record.member = member
            declared = member and tag in expertise
            if record.declared != declared:
                record.declared = declared
                record.score += DECLARED_BONUS if declared else -DECLARED_BONUS
            self._settle(record)

    async def recount(self, member_id: str, tag: str) -> None:
        await _turn()
        points = sum(
            e.amount
            for e in self._ledger.values()
            if e.tag == tag and e.member_id == member_id and not self._communities.is_hidden(e.community_id)
        )
        record = self._upsert(ALL_COMMUNITIES, tag, member_id)
        record.points = points
        record.score = expert_score(points, record.declared)
        self._settle(record)

    async def communities_of(self, member_id: str) -> list[str]:
        await _turn()
        return self._communities.communities_of(member_id)

    async def earners_in(self, community_id: str) -> set[tuple[str, str]]:
        await _turn()
        return {(e.tag, e.member_id) for e in self._ledger.values() if e.community_id == community_id}

    async def list_experts(self, scope: str, tag: str, page_size: int, page_token: str) -> Page[Expert]:
        await _turn()
        listed = [
            (member_id, r)
            for (s, t, member_id), r in self._records.items()
            if s == scope and t == tag and r.listed
        ]
        page = keyset_page(listed, lambda x: (-x[1].score, x[0]), page_token, page_size)
        experts: list[Expert] = []
        for member_id, r in page.items:
            profile = await self._people.get_profile(member_id)
            experts.append(
                Expert(
                    member_id=member_id,
                    declared=r.declared,
                    points=r.points,
                    score=r.score,
                    display_name=profile.display_name if profile is not None else "",
                    job_title=profile.job_title if profile is not None else "",
                )
            )
        return Page(experts, page.next_token)


@dataclass
class MemoryCommunityService:
    """The community service's use cases and handlers composed on in-memory ports, as bootstrap composes
    them on MongoDB."""

    clock: SteppingClock
    repository: MemoryCommunityRepository
    people_store: MemoryPeopleRepository
    survey_store: MemorySurveyRepository
    goal_store: MemoryGoalRepository
    controls: MemoryPilotControls
    reputation: FakeReputation
    directory: MemoryExpertDirectory
    communities: CommunityUseCases
    membership: MembershipUseCases
    people: PeopleUseCases
    surveys: SurveyUseCases
    goals: GoalUseCases
    pilots: PilotControlUseCases
    experts: ExpertQueries
    expert_handlers: ExpertEventHandlers


REGIONS = ["emea", "amer", "apac"]


def memory_service(
    clock: SteppingClock | None = None, repository: MemoryCommunityRepository | None = None
) -> MemoryCommunityService:
    clock = clock or SteppingClock()
    repository = repository or MemoryCommunityRepository()
    people_store = MemoryPeopleRepository()
    survey_store = MemorySurveyRepository()
    goal_store = MemoryGoalRepository()
    controls = MemoryPilotControls()
    reputation = FakeReputation()
    directory = MemoryExpertDirectory(repository, people_store)
    communities = CommunityUseCases(repository, regions=REGIONS, clock=clock)
    return MemoryCommunityService(
        clock=clock,
        repository=repository,
        people_store=people_store,
        survey_store=survey_store,
        goal_store=goal_store,
        controls=controls,
        reputation=reputation,
        directory=directory,
        communities=communities,
        membership=MembershipUseCases(repository, clock=clock),
        people=PeopleUseCases(people_store, regions=REGIONS, clock=clock),
        surveys=SurveyUseCases(survey_store, repository, clock=clock),
        goals=GoalUseCases(
            goal_store, repository, reputation, controls=controls, comparer=reputation, clock=clock
        ),
        pilots=PilotControlUseCases(controls, repository, clock=clock),
        experts=ExpertQueries(directory, communities),
        expert_handlers=ExpertEventHandlers(directory),
    )


def servicer(svc: MemoryCommunityService) -> CommunityServicer:
    """The gRPC servicer on these use cases, as bootstrap registers it."""
    return CommunityServicer(
        svc.communities, svc.membership, svc.people, svc.surveys, svc.goals, svc.experts, svc.pilots
    )


def person(subject: str, *scopes: str) -> Principal:
    """A person calling with a token carrying ``scopes``."""
    return Principal(subject, scopes=frozenset(scopes))


def service_caller(subject: str, *scopes: str) -> Principal:
    """A service (an HR system, another Guild service) calling with its service token."""
    return Principal(subject, scopes=frozenset({"service", *scopes}))


async def new_community(
    svc: MemoryCommunityService,
    owner: Principal,
    slug: str,
    *,
    visibility: Visibility = Visibility.OPEN,
    lifecycle: Lifecycle = Lifecycle.LIVE,
    pilot_cap: int = 0,
    programme: str = "sales",
    region: str = "amer",
    name: str = "",
) -> Community:
    return await svc.communities.create_community(
        owner,
        NewCommunity(
            name=name or slug,
            slug=slug,
            description="",
            programme=programme,
            region=region,
            visibility=visibility,
            request_id="",
            lifecycle=lifecycle,
            pilot_cap=pilot_cap,
        ),
    )
