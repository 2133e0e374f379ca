"""The expert directory on in-memory ports: its handlers fed the envelopes the stores' writes would publish
(decoded by the service's own decoders, as its consumers decode them) and reputation's points; its query."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from guild.events.v1 import reputation_events_pb2 as reputation_events
from guild_common.errors import InvalidArgument, NotFound
from guild_common.events.consumer import EventHandler
from guild_common.events.envelope import Envelope, new_envelope
from guild_common.events.inbound import bind
from guild_community.adapters.outbound_events import people_envelope, to_envelope
from guild_community.app.experts_handlers import ExpertEventHandlers
from guild_community.domain.authorization import ENROL_SCOPE
from guild_community.domain.communities import CommunityPatch, Visibility
from guild_community.domain.people import ProfilePatch
from guild_community.entrypoints.event_decoders import DECODERS

from .memory import MemoryCommunityService, MemoryExpertDirectory, new_community, person, service_caller

OWNER = person("olivia")
HR = service_caller("hr-system", ENROL_SCOPE)
TOPIC = "machine-learning"
Row = tuple[str, bool, int, int]


class Relay:
    """Delivers what the stores recorded since the last delivery, as envelopes, to the consumer's table."""

    def __init__(self, svc: MemoryCommunityService) -> None:
        self._svc = svc
        self.table: dict[str, EventHandler] = bind(DECODERS, svc.expert_handlers.handlers())
        self._community_seen = 0
        self._people_seen = 0
        self.delivered: list[Envelope] = []

    async def deliver(self) -> None:
        community_events = self._svc.repository.events[self._community_seen :]
        people_events = self._svc.people_store.events[self._people_seen :]
        self._community_seen += len(community_events)
        self._people_seen += len(people_events)
        for envelope in [*map(to_envelope, community_events), *map(people_envelope, people_events)]:
            await self.handle(envelope)

    async def handle(self, envelope: Envelope) -> None:
        handler = self.table.get(envelope.type)
        if handler is not None:
            await handler(envelope)
            self.delivered.append(envelope)


def points(entry_id: str, community_id: str, member_id: str, amount: int, tags: Sequence[str]) -> Envelope:
    return new_envelope(
        service="reputation",
        name="points_changed",
        payload=reputation_events.PointsChanged(
            entry_id=entry_id,
            community_id=community_id,
            member_id=member_id,
            amount=amount,
            rule="answer_accepted",
            tags=list(tags),
        ),
        subject=member_id,
        region="emea",
        programme="sales",
    )


async def _rows(
    svc: MemoryCommunityService, community_id: str, tag: str, caller: str = "olivia"
) -> list[Row]:
    rows: list[Row] = []
    token = ""
    while True:
        page = await svc.experts.list_experts(person(caller), community_id, tag, 2, token)
        rows += [(e.member_id, e.declared, e.points, e.score) for e in page.items]
        if not (token := page.next_token):
            return rows


async def _declare(svc: MemoryCommunityService, who: str, expertise: list[str], job_title: str = "") -> None:
    await svc.people.update_profile(
        person(who), "", ProfilePatch(display_name=who.title(), job_title=job_title, expertise=expertise)
    )


async def test_experts_rank_declared_and_earned_expertise_by_topic(svc: MemoryCommunityService) -> None:
    relay = Relay(svc)
    community = await new_community(svc, OWNER, "data-guild", region="emea")
    await svc.membership.enrol_cohort(HR, community.id, ["ann", "bob", "cat", "dan"])
    await _declare(svc, "ann", ["Machine  Learning", "crm"], job_title="Data scientist")
    await _declare(svc, "dan", [TOPIC])
    await _declare(svc, "eve", [TOPIC])  # declares, but belongs to no community
    await relay.deliver()
    first = points("e1", community.id, "bob", 30, [TOPIC, "crm"])
    for envelope in (
        first,
        points("e2", community.id, "ann", 10, [TOPIC]),
        points("e3", community.id, "cat", 15, [TOPIC]),
        points("e4", community.id, "cat", -15, [TOPIC]),  # a reversal takes it back
        first,  # redelivered
        points("e1", community.id, "bob", 30, [TOPIC, "crm"]),  # the same entry under another event id
    ):
        await relay.handle(envelope)

    # score = points + 50 for declaring the topic; ties by member id; cat (0 points) is left out.
    assert await _rows(svc, community.id, "  Machine Learning ") == [
        ("ann", True, 10, 60),
        ("dan", True, 0, 50),
        ("bob", False, 30, 30),
    ]
    everywhere = [("ann", True, 10, 60), ("dan", True, 0, 50), ("eve", True, 0, 50), ("bob", False, 30, 30)]
    assert await _rows(svc, "", TOPIC) == everywhere
    assert await _rows(svc, community.id, "crm") == [("ann", True, 0, 50), ("bob", False, 30, 30)]
    page = await svc.experts.list_experts(OWNER, community.id, TOPIC, 0, "")
    assert (page.items[0].display_name, page.items[0].job_title) == ("Ann", "Data scientist")

    # Dropping a declared topic keeps the points; leaving the community leaves its directory only.
    await _declare(svc, "ann", ["crm"])
    await svc.membership.leave(person("dan"), community.id)
    await relay.deliver()
    assert await _rows(svc, community.id, TOPIC) == [("bob", False, 30, 30), ("ann", False, 10, 10)]
    assert await _rows(svc, "", TOPIC) == [
        ("dan", True, 0, 50),
        ("eve", True, 0, 50),
        ("bob", False, 30, 30),
        ("ann", False, 10, 10),
    ]


async def test_redelivering_everything_changes_nothing(svc: MemoryCommunityService) -> None:
    relay = Relay(svc)
    community = await new_community(svc, OWNER, "replayed")
    await svc.membership.enrol_cohort(HR, community.id, ["ann", "bob"])
    await _declare(svc, "ann", ["sql"])
    await relay.deliver()
    await relay.handle(points("p1", community.id, "bob", 7, ["sql"]))
    before = await _rows(svc, community.id, "sql")
    assert before == [("ann", True, 0, 50), ("bob", False, 7, 7)]
    for envelope in list(relay.delivered):
        await relay.handle(envelope)
    assert await _rows(svc, community.id, "sql") == before
    assert await _rows(svc, "", "sql") == before


class CountingDirectory(MemoryExpertDirectory):
    """The in-memory directory, counting the refreshes and recounts it is asked for."""

    def __init__(self, svc: MemoryCommunityService) -> None:
        super().__init__(svc.repository, svc.people_store)
        self.calls: list[str] = []

    async def refresh(self, scope: str, member_id: str, tags: Sequence[str] = ()) -> None:
        self.calls.append(f"refresh {scope} {member_id}")
        await super().refresh(scope, member_id, tags)

    async def recount(self, member_id: str, tag: str) -> None:
        self.calls.append(f"recount {member_id} {tag}")
        await super().recount(member_id, tag)


async def test_only_a_change_of_expertise_or_visibility_reaches_the_directory(
    svc: MemoryCommunityService,
) -> None:
    directory = CountingDirectory(svc)
    table = bind(DECODERS, ExpertEventHandlers(directory).handlers())
    community = await new_community(svc, OWNER, "quiet")
    await svc.membership.join(person("ann"), community.id)
    await table["guild.reputation.points_changed.v1"](points("q1", community.id, "ann", 3, ["go"]))
    directory.calls.clear()
    await svc.people.update_profile(person("ann"), "", ProfilePatch(job_title="Gopher"))
    await svc.communities.update_community(OWNER, community.id, CommunityPatch(description="renamed"))
    for event in svc.people_store.events:
        await table["guild.community.profile_updated.v1"](people_envelope(event))
    await table["guild.community.community_updated.v1"](to_envelope(svc.repository.events[-1]))
    assert directory.calls == []

    await svc.people.update_profile(person("ann"), "", ProfilePatch(expertise=["go"]))
    await table["guild.community.profile_updated.v1"](people_envelope(svc.people_store.events[-1]))
    assert directory.calls == ["refresh * ann", f"refresh {community.id} ann"]
    directory.calls.clear()
    await svc.communities.update_community(OWNER, community.id, CommunityPatch(visibility=Visibility.HIDDEN))
    await table["guild.community.community_updated.v1"](to_envelope(svc.repository.events[-1]))
    assert directory.calls == ["recount ann go", "refresh * ann"]


async def test_hidden_communities_keep_their_experts_to_themselves(svc: MemoryCommunityService) -> None:
    relay = Relay(svc)
    hidden = await new_community(svc, OWNER, "secret-project", visibility=Visibility.HIDDEN)
    open_floor = await new_community(svc, OWNER, "open-floor")
    for community in (hidden, open_floor):
        await svc.membership.enrol_cohort(HR, community.id, ["ann"])
    await relay.deliver()
    await relay.handle(points("h1", hidden.id, "ann", 40, ["pricing"]))
    await relay.handle(points("o1", open_floor.id, "ann", 5, ["pricing"]))
    assert await _rows(svc, hidden.id, "pricing") == [("ann", False, 40, 40)]
    assert await _rows(svc, open_floor.id, "pricing") == [("ann", False, 5, 5)]
    assert await _rows(svc, "", "pricing") == [("ann", False, 5, 5)]
    with pytest.raises(NotFound):
        await _rows(svc, hidden.id, "pricing", caller="zed")

    # Shown again, its points join the directory across communities; hidden again, they leave it.
    await svc.communities.update_community(OWNER, hidden.id, CommunityPatch(visibility=Visibility.OPEN))
    await relay.deliver()
    assert await _rows(svc, "", "pricing") == [("ann", False, 45, 45)]
    await svc.communities.update_community(OWNER, hidden.id, CommunityPatch(visibility=Visibility.HIDDEN))
    await relay.deliver()
    assert await _rows(svc, "", "pricing") == [("ann", False, 5, 5)]


@pytest.mark.parametrize("tag", ["", "   ", "no/slashes", "x" * 41])
async def test_a_bad_topic_is_refused(svc: MemoryCommunityService, tag: str) -> None:
    with pytest.raises(InvalidArgument) as bad:
        await svc.experts.list_experts(OWNER, "", tag, 0, "")
    assert {v.field for v in bad.value.violations} == {"tag"}


async def test_points_without_a_topic_or_an_id_are_ignored(svc: MemoryCommunityService) -> None:
    relay = Relay(svc)
    community = await new_community(svc, OWNER, "untagged")
    await svc.membership.join(person("ann"), community.id)
    await relay.deliver()
    await relay.handle(points("u1", community.id, "ann", 10, []))
    await relay.handle(points("", community.id, "ann", 10, ["sql"]))
    await relay.handle(points("u2", "", "ann", 10, ["sql"]))
    assert await svc.directory.earners_in(community.id) == set()
    assert await _rows(svc, "", "sql") == []


async def test_experts_of_an_unknown_community_are_not_found(svc: MemoryCommunityService) -> None:
    with pytest.raises(NotFound):
        await svc.experts.list_experts(OWNER, "no-such-community", "sql", 0, "")
    with pytest.raises(InvalidArgument) as forged:
        await svc.experts.list_experts(OWNER, "", "sql", 0, "forged.token")
    assert [v.field for v in forged.value.violations] == ["page_token"]
