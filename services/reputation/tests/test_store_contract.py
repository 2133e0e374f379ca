"""The ports' contract, checked on the in-memory stores (``memory``) and on the MongoDB ones (``mongo``).

The same test runs on both: the fast app-layer tests may trust the in-memory stores only as far as these
checks hold for the MongoDB stores too. The ``mongo`` runs need FerretDB (they are marked ``servers``).
Crash recovery, batches and replicas are the Mongo ledger's own (``test_ledger_*``, ``test_replicas``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from services.reputation.tests import memory
from services.reputation.tests.memory import T0

import guild_reputation.adapters
from guild_common.mongo import Document, collect_schema, ensure_indexes
from guild_reputation.adapters.badges_store import MongoBadges
from guild_reputation.adapters.board_snapshots_store import MongoBoardSnapshots
from guild_reputation.adapters.cpd_store import MongoCpd
from guild_reputation.adapters.custom_badges_store import MongoBadgeDefinitions
from guild_reputation.adapters.insights_store import MongoInsights
from guild_reputation.adapters.ledger_store import MongoLedger
from guild_reputation.adapters.pilot_store import MongoPilot
from guild_reputation.adapters.points_rules_store import MongoPointsRules
from guild_reputation.adapters.post_tags_store import MongoPostTags
from guild_reputation.adapters.ratings_store import MongoRatings
from guild_reputation.adapters.recognition_store import MongoRecognition
from guild_reputation.adapters.roles_store import RoleReadModel
from guild_reputation.adapters.visibility_store import VisibilityReadModel
from guild_reputation.adapters.waits_store import MongoWaits
from guild_reputation.app.ports import (
    BadgeDefinitions,
    BadgeStore,
    BoardChunk,
    BoardSnapshots,
    CpdStore,
    InsightsStore,
    Ledger,
    PilotStore,
    PointsRules,
    PostTags,
    Ratings,
    RecognitionStore,
    SnapshotHead,
    StaleDecision,
    Total,
    Waits,
)
from guild_reputation.domain.badges import Award, Badge, Tier
from guild_reputation.domain.cpd import (
    CpdActivity,
    CpdCredit,
    CpdRules,
    CreditState,
    MemberTotal,
    Reflection,
    Totals,
)
from guild_reputation.domain.custom_badges import (
    BadgeDefinition,
    Count,
    CountedEvent,
    Template,
)
from guild_reputation.domain.insights import MONTH as A_MONTH
from guild_reputation.domain.insights import WEEK as A_WEEK
from guild_reputation.domain.insights import PostKind, QuestionFigures, Scope, Weeks
from guild_reputation.domain.periods import ALL_TIME, GLOBAL, Calendar
from guild_reputation.domain.pilot import PilotControl
from guild_reputation.domain.recognition import ContributionSummary, RoleChange
from guild_reputation.domain.rules import LedgerEntry, Rule, RuleSetting
from guild_testing.fixtures import Infra, database_name

C1 = "c-1"
WEEK, MONTH = Calendar().periods(T0).week, Calendar().periods(T0).month


@dataclass
class Stores:
    ledger: Ledger
    post_tags: PostTags
    waits: Waits
    rules: PointsRules
    roles: RoleReadModel | memory.MemoryRoles
    communities: VisibilityReadModel | memory.MemoryCommunities
    ratings: Ratings
    snapshots: BoardSnapshots
    badges: BadgeStore
    definitions: BadgeDefinitions
    cpd: CpdStore
    insights: InsightsStore
    pilot: PilotStore
    recognition: RecognitionStore
    clock: memory.ManualClock


@pytest_asyncio.fixture(params=["memory", pytest.param("mongo", marks=pytest.mark.servers)])
async def stores(request: pytest.FixtureRequest) -> AsyncIterator[Stores]:
    clock = memory.ManualClock()
    if request.param == "memory":
        ledger = memory.MemoryLedger(clock=clock)
        insights = memory.MemoryInsights()
        roles = memory.MemoryRoles()
        badges = memory.MemoryBadges(ledger)
        yield Stores(
            ledger,
            memory.MemoryPostTags(),
            memory.MemoryWaits(),
            memory.MemoryPointsRules(),
            roles,
            memory.MemoryCommunities(),
            memory.MemoryRatings(),
            memory.MemoryBoardSnapshots(),
            badges,
            memory.MemoryBadgeDefinitions(),
            memory.MemoryCpd(),
            insights,
            memory.MemoryPilot(insights),
            memory.MemoryRecognition(insights, badges, roles),
            clock,
        )
        return
    infra: Infra = request.getfixturevalue("infra")
    client: AsyncMongoClient[Document] = AsyncMongoClient(infra.mongo_uri, tz_aware=True)
    name = database_name(request.node.name)
    await client.drop_database(name)
    db = client[name]
    await ensure_indexes(db, collect_schema(guild_reputation.adapters).indexes)
    try:
        yield Stores(
            MongoLedger(db, on_events=lambda *_: None, clock=clock),
            MongoPostTags(db),
            MongoWaits(db),
            MongoPointsRules(db),
            RoleReadModel(db),
            VisibilityReadModel(db, cache_seconds=0),
            MongoRatings(db),
            MongoBoardSnapshots(db),
            MongoBadges(db, on_events=lambda *_: None),
            MongoBadgeDefinitions(db),
            MongoCpd(db, on_events=lambda *_: None),
            MongoInsights(db, Weeks()),
            MongoPilot(db, Weeks()),
            MongoRecognition(db, on_events=lambda *_: None),
            clock,
        )
    finally:
        await client.close()


def entry(
    event: str,
    rule: Rule = Rule.UPVOTE_RECEIVED,
    *,
    member: str = "bob",
    amount: int = 10,
    target: str = "a1",
    actor: str = "",
    tags: tuple[str, ...] = (),
    minutes: int = 0,
    community: str = C1,
) -> LedgerEntry:
    return LedgerEntry.for_event(
        event_id=event,
        rule=rule,
        community_id=community,
        member_id=member,
        amount=amount,
        target_id=target,
        time=T0 + timedelta(minutes=minutes),
        actor_id=actor,
        tags=tags,
    )


async def record(ledger: Ledger, e: LedgerEntry, guard: object = None) -> None:
    await ledger.record(e, region="emea", programme="sales", guard=guard)  # type: ignore[arg-type]


def points(totals: list[Total]) -> dict[tuple[str, str], tuple[int, int]]:
    return {(t.community_id, t.period): (t.points, t.entries) for t in totals}


# The ledger: each entry id counts once, in every total


async def test_an_entry_counts_once_in_each_of_its_totals(stores: Stores) -> None:
    ledger = stores.ledger
    await record(ledger, entry("e1"))
    await record(ledger, entry("e1"))  # redelivered
    await record(ledger, entry("e2", Rule.ANSWER_POSTED, amount=5, target="a2"))
    totals = await ledger.stored_totals(C1, "bob", T0)
    assert points(totals) == {
        (board, period): (15, 2) for board in (C1, GLOBAL) for period in (ALL_TIME, WEEK, MONTH)
    }
    assert [(t.community_id, t.period) for t in totals] == [
        (C1, ALL_TIME),
        (C1, WEEK),
        (C1, MONTH),
        (GLOBAL, ALL_TIME),
        (GLOBAL, WEEK),
        (GLOBAL, MONTH),
    ]
    assert await ledger.stored_totals(C1, "nobody", T0) == []


async def test_an_entry_id_recorded_again_keeps_its_first_amount(stores: Stores) -> None:
    await record(stores.ledger, entry("e1", amount=10))
    await record(stores.ledger, entry("e1", amount=99))
    assert points(await stores.ledger.stored_totals(C1, "bob", T0))[(C1, ALL_TIME)] == (10, 1)
    assert await stores.ledger.net_for_target(C1, "bob", "a1", [Rule.UPVOTE_RECEIVED]) == 10


async def test_counters_about_a_target_and_an_actors_share(stores: Stores) -> None:
    ledger = stores.ledger
    await record(ledger, entry("e1", actor="ann", tags=("python",)))
    await record(ledger, entry("e2", actor="cat", tags=("go",)))
    await record(ledger, entry("e3", Rule.UPVOTE_RETRACTED, amount=-10, actor="ann"))
    assert await ledger.net_for_target(C1, "bob", "a1", [Rule.UPVOTE_RECEIVED]) == 20
    assert await ledger.net_for_target(C1, "bob", "a1", [Rule.UPVOTE_RECEIVED, Rule.UPVOTE_RETRACTED]) == 10
    assert await ledger.net_for_target(C1, "bob", "a1", [Rule.UPVOTE_RECEIVED], "ann") == 10
    assert await ledger.count_for_target(C1, "bob", "a1", Rule.UPVOTE_RECEIVED) == 2
    assert await ledger.count_for_target(C1, "bob", "a1", Rule.UPVOTE_RETRACTED, "cat") == 0
    assert await ledger.tags_for_target(C1, "bob", "a1") == ["go", "python"]
    assert await ledger.tags_for_target(C1, "bob", "other") == []
    state = await ledger.target_state(C1, "bob", "a1", "ann", ["e1:upvote_received", "e9:upvote_received"])
    assert state.net([Rule.UPVOTE_RECEIVED, Rule.UPVOTE_RETRACTED], by_actor=True) == 0
    assert state.count(Rule.UPVOTE_RECEIVED) == 2
    assert state.count(Rule.UPVOTE_RETRACTED, by_actor=True) == 1
    assert state.tags == ["go", "python"]
    assert not state.removed
    assert state.held == frozenset({"e1:upvote_received"})


async def test_the_state_of_an_untouched_target_is_empty(stores: Stores) -> None:
    state = await stores.ledger.target_state(C1, "bob", "a1", "ann", ["e1:upvote_received"])
    assert state.net(list(Rule)) == 0
    assert state.held == frozenset()
    assert state.tags == []
    assert await stores.ledger.resume(["e1:upvote_received"]) == []


# Guarded entries: counted only while the counter holds what the decision read


async def test_a_guard_on_an_untouched_counter_holds(stores: Stores) -> None:
    ledger = stores.ledger
    state = await ledger.target_state(C1, "bob", "a1", "ann", [])
    await record(ledger, entry("e1", actor="ann"), state.actor_without(Rule.UPVOTE_RECEIVED))
    assert await ledger.count_for_target(C1, "bob", "a1", Rule.UPVOTE_RECEIVED, "ann") == 1


async def test_a_guard_read_before_another_entry_is_stale_and_records_nothing(stores: Stores) -> None:
    ledger = stores.ledger
    await record(ledger, entry("e1", actor="ann"))
    state = await ledger.target_state(C1, "bob", "a1", "", [])
    await record(ledger, entry("e2", actor="cat"))  # counted after the read
    with pytest.raises(StaleDecision):
        await record(ledger, entry("e3", Rule.POST_REMOVED, amount=-10), state.unchanged())
    assert points(await ledger.stored_totals(C1, "bob", T0))[(C1, ALL_TIME)] == (20, 2)
    assert await ledger.count_for_target(C1, "bob", "a1", Rule.POST_REMOVED) == 0
    # Decided again on a fresh read, the same entry id counts.
    fresh = await ledger.target_state(C1, "bob", "a1", "", [])
    await record(ledger, entry("e3", Rule.POST_REMOVED, amount=-20), fresh.unchanged())
    assert points(await ledger.stored_totals(C1, "bob", T0))[(C1, ALL_TIME)] == (0, 3)
    assert (await ledger.target_state(C1, "bob", "a1", "", [])).removed


async def test_a_removal_makes_not_removed_guards_stale(stores: Stores) -> None:
    ledger = stores.ledger
    before = await ledger.target_state(C1, "bob", "a1", "ann", [])
    await record(ledger, entry("e1", Rule.POST_REMOVED, amount=0))
    with pytest.raises(StaleDecision):
        await record(ledger, entry("e2", actor="ann"), before.not_removed())
    assert await ledger.count_for_target(C1, "bob", "a1", Rule.UPVOTE_RECEIVED) == 0


async def test_an_actor_guard_is_stale_once_that_actor_has_an_entry(stores: Stores) -> None:
    ledger = stores.ledger
    state = await ledger.target_state(C1, "bob", "col", "ann", [])
    await record(ledger, entry("e1", Rule.COLLECTION_FOLLOWED, amount=3, target="col", actor="ann"))
    with pytest.raises(StaleDecision):
        await record(
            ledger,
            entry("e2", Rule.COLLECTION_FOLLOWED, amount=3, target="col", actor="ann"),
            state.actor_without(Rule.COLLECTION_FOLLOWED),
        )
    # Another actor's guard is untouched.
    other = await ledger.target_state(C1, "bob", "col", "cat", [])
    await record(
        ledger,
        entry("e3", Rule.COLLECTION_FOLLOWED, amount=3, target="col", actor="cat"),
        other.actor_without(Rule.COLLECTION_FOLLOWED),
    )
    assert await ledger.count_for_target(C1, "bob", "col", Rule.COLLECTION_FOLLOWED) == 2


async def test_a_recorded_entry_recorded_again_with_a_stale_guard_is_not_refused(stores: Stores) -> None:
    ledger = stores.ledger
    state = await ledger.target_state(C1, "bob", "a1", "", [])
    await record(ledger, entry("e1"), state.unchanged())
    await record(ledger, entry("e1"), state.unchanged())  # redelivered: recorded already
    assert points(await ledger.stored_totals(C1, "bob", T0))[(C1, ALL_TIME)] == (10, 1)


# Daily caps


async def test_the_daily_cap_cuts_gains_once_per_entry(stores: Stores) -> None:
    ledger = stores.ledger
    assert await ledger.reserve_daily(entry("e1"), 25) == 10
    assert await ledger.reserve_daily(entry("e2"), 25) == 10
    assert await ledger.reserve_daily(entry("e3"), 25) == 5
    assert await ledger.reserve_daily(entry("e3"), 25) == 5  # redelivered: what it got the first time
    assert await ledger.reserve_daily(entry("e4"), 25) == 0
    # The next day has its room again; another rule has its own.
    assert await ledger.reserve_daily(entry("e5", minutes=24 * 60), 25) == 10
    assert await ledger.reserve_daily(entry("e6", Rule.ANSWER_POSTED), 25) == 10


async def test_unreserving_gives_the_room_back(stores: Stores) -> None:
    ledger = stores.ledger
    assert await ledger.reserve_daily(entry("e1"), 15) == 10
    await ledger.unreserve_daily(entry("e1"))
    await ledger.unreserve_daily(entry("e1"))  # twice: given back once
    await ledger.unreserve_daily(entry("never"))
    assert await ledger.reserve_daily(entry("e2"), 15) == 10
    assert await ledger.reserve_daily(entry("e3"), 15) == 5


async def test_a_gain_above_the_cap_is_cut_to_the_cap(stores: Stores) -> None:
    assert await stores.ledger.reserve_daily(entry("e1", amount=30), 20) == 20


# Totals by tag, and all totals


async def test_tag_boards_page_most_points_first_without_gaps(stores: Stores) -> None:
    ledger = stores.ledger
    for i, (member, amount) in enumerate(
        [("ann", 10), ("bob", 30), ("cat", 10), ("dan", 20), ("eve", 10), ("fay", 5)]
    ):
        await record(ledger, entry(f"e{i}", member=member, amount=amount, tags=("python",)))
    await record(ledger, entry("z1", member="gus", amount=10, tags=("go",)))
    await record(ledger, entry("z2", member="hal", amount=10, tags=("python",)))
    await record(ledger, entry("z3", member="hal", amount=-10, tags=("python",)))  # back to 0: left out
    seen = []
    token = ""
    while True:
        page = await ledger.top_by_tag(C1, "python", 2, token)
        seen += [(t.member_id, t.points) for t in page.items]
        token = page.next_token
        if not token:
            break
    assert seen == [("bob", 30), ("dan", 20), ("eve", 10), ("cat", 10), ("ann", 10), ("fay", 5)]
    assert (await ledger.top_by_tag(C1, "rust", 10, "")).items == []


async def test_totals_stream_by_period_and_since_a_time(stores: Stores) -> None:
    ledger = stores.ledger
    await record(ledger, entry("e1", member="ann"))
    stores.clock.advance(timedelta(minutes=5))
    since = stores.clock()
    await record(ledger, entry("e2", member="bob"))
    every = {(t.community_id, t.member_id, t.points) async for t in ledger.totals([ALL_TIME])}
    assert every == {(C1, "ann", 10), (GLOBAL, "ann", 10), (C1, "bob", 10), (GLOBAL, "bob", 10)}
    weekly = {t.period async for t in ledger.totals([WEEK])}
    assert weekly == {WEEK}
    changed = {(t.community_id, t.member_id) async for t in ledger.totals_changed_since([ALL_TIME], since)}
    assert changed == {(C1, "bob"), (GLOBAL, "bob")}


# Post tags, waits, points rules


async def test_post_tags_are_stored_once_and_answers_take_their_questions(stores: Stores) -> None:
    tags = stores.post_tags
    assert await tags.known_tags("q1") is None
    assert await tags.tags_of("q1") == []
    await tags.remember("a1", [], question_id="q1")
    assert await tags.known_tags("a1") is None  # its question unknown
    await tags.remember("q1", ["python"])
    await tags.remember("q1", ["go"])  # stored already: the first stays
    assert await tags.known_tags("q1") == ["python"]
    assert await tags.known_tags("a1") == ["python"]
    await tags.remember("a2", ["rust"], question_id="q9", resolved=True)
    assert await tags.tags_of("a2") == ["rust"]
    await tags.remember("d1", [])
    assert await tags.known_tags("d1") == []


async def test_a_wait_begins_once_until_forgotten(stores: Stores) -> None:
    waits = stores.waits
    assert await waits.first_seen("k", T0) == T0
    assert await waits.first_seen("k", T0 + timedelta(seconds=5)) == T0
    await waits.forget("k")
    await waits.forget("k")
    assert await waits.first_seen("k", T0 + timedelta(seconds=9)) == T0 + timedelta(seconds=9)


async def test_points_rules_overrides_merge_by_rule(stores: Stores) -> None:
    rules = stores.rules
    assert await rules.overrides(C1) == {}
    await rules.set_overrides(C1, {"question_asked": RuleSetting(4, 0)}, "ann")
    await rules.set_overrides(C1, {"upvote_received": RuleSetting(7, 50)}, "ann")
    await rules.set_overrides(C1, {"question_asked": RuleSetting(1, 3)}, "ann")
    assert await rules.overrides(C1) == {
        "question_asked": RuleSetting(1, 3),
        "upvote_received": RuleSetting(7, 50),
    }
    assert await rules.overrides("c-2") == {}


# Community read models


async def test_roles_take_only_newer_changes(stores: Stores) -> None:
    roles = stores.roles
    assert await roles.get(C1, "ann") is None
    await roles.put(C1, "ann", "member", T0, region="emea", programme="sales")
    await roles.put(C1, "ann", "owner", T0 + timedelta(seconds=2))
    await roles.put(C1, "ann", "curator", T0 + timedelta(seconds=1))  # older: ignored
    await roles.put(C1, "ann", "champion", T0 + timedelta(seconds=2))  # the same time: ignored
    assert await roles.get(C1, "ann") == "owner"
    assert await roles.routing(C1, "ann") == ("emea", "sales")
    await roles.put(C1, "ann", "", T0 + timedelta(seconds=3))
    assert await roles.get(C1, "ann") == ""
    assert await roles.routing(C1, "bob") == ("unknown", "unknown")


async def test_visibility_takes_only_newer_changes(stores: Stores) -> None:
    communities = stores.communities
    assert await communities.visibility(C1) is None
    await communities.put(C1, "hidden", T0 + timedelta(seconds=2))
    await communities.put(C1, "open", T0)  # older: ignored
    await communities.put("c-2", "open", T0)
    assert await communities.visibility(C1) == "hidden"
    assert await communities.hidden_ids() == frozenset({C1})
    await communities.put(C1, "open", T0 + timedelta(seconds=3))
    assert await communities.hidden_ids() == frozenset()


async def test_ratings_keep_the_latest(stores: Stores) -> None:
    ratings = stores.ratings
    assert await ratings.rate("r1", "ann", 5, T0 + timedelta(seconds=2)) == 5
    assert await ratings.rate("r1", "ann", 2, T0) == 5  # older: the stored stars stay
    assert await ratings.rate("r1", "ann", 3, T0 + timedelta(seconds=3)) == 3
    await ratings.item_average("r1", 4.5, 2, T0 + timedelta(seconds=1))
    await ratings.item_average("r1", 1.0, 1, T0)
    assert await ratings.averages(["r1", "r2"]) == {"r1": 4.5}


# Boards snapshots


async def test_snapshots_keep_the_newest_two_and_their_chunks_in_order(stores: Stores) -> None:
    snapshots = stores.snapshots
    assert await snapshots.latest() is None
    chunks = [
        BoardChunk(C1, ALL_TIME, ["ann", "bob"], [5, 3]),
        BoardChunk(C1, ALL_TIME, ["cat"], [1]),
        BoardChunk(GLOBAL, WEEK, ["ann"], [5]),
    ]
    heads = [SnapshotHead(f"s{i}", T0 + timedelta(minutes=i), 4) for i in range(3)]
    assert await snapshots.write(heads[0], chunks) == heads[0].as_of
    assert await snapshots.write(heads[1], chunks[:1]) == heads[0].as_of
    assert await snapshots.write(heads[2], chunks[1:]) == heads[1].as_of
    assert await snapshots.latest() == heads[2]
    assert [c async for c in snapshots.chunks("s2")] == chunks[1:]
    assert [c async for c in snapshots.chunks("s1")] == chunks[:1]
    assert [c async for c in snapshots.chunks("s0")] == []  # dropped with its head
    await snapshots.discard()
    assert await snapshots.latest() is None
    assert [c async for c in snapshots.chunks("s2")] == []


# Badges


def award(
    member: str, badge: Badge, tier: Tier = Tier.BRONZE, *, minutes: int = 0, community: str = C1
) -> Award:
    return Award.of(community, member, badge, tier, T0 + timedelta(minutes=minutes), source_event_id="e")


async def test_a_badge_tier_is_awarded_once(stores: Stores) -> None:
    badges = stores.badges
    first = award("ann", Badge.FIRST_QUESTION)
    assert await badges.award(first, region="emea", programme="sales")
    again = replace(first, time=T0 + timedelta(hours=1), citation="other")
    assert not await badges.award(again, region="emea", programme="sales")
    assert await badges.get(first.id) == first
    assert await badges.get("nope") is None


async def test_awards_list_newest_first_by_community_and_without_excluded_ones(stores: Stores) -> None:
    badges = stores.badges
    awards = [
        award("ann", Badge.FIRST_QUESTION, minutes=1),
        award("ann", Badge.FIRST_ANSWER, minutes=3),
        award("ann", Badge.STREAK, minutes=3),  # the same time: by id
        award("ann", Badge.FIRST_QUESTION, minutes=2, community="c-2"),
        award("ann", Badge.HELPFUL, minutes=4, community="c-3"),
        award("bob", Badge.FIRST_QUESTION, minutes=5),
    ]
    for a in awards:
        await badges.award(a, region="emea", programme="sales")
    ids: list[str] = []
    token = ""
    while True:
        page = await badges.list("ann", "", 2, token)
        ids += [a.id for a in page.items]
        token = page.next_token
        if not token:
            break
    by_time = sorted(awards[:5], key=lambda a: (a.time, a.id), reverse=True)
    assert ids == [a.id for a in by_time]
    in_c1 = await badges.list("ann", C1, 10, "")
    assert [a.badge for a in in_c1.items] == ["streak", "first_answer", "first_question"]
    seen = await badges.list("ann", "", 10, "", exclude=frozenset({"c-2", "c-3"}))
    assert {a.community_id for a in seen.items} == {C1}
    assert await badges.award_communities("ann") == frozenset({C1, "c-2", "c-3"})
    assert await badges.award_communities("zed") == frozenset()


async def test_facts_count_once_by_their_id(stores: Stores) -> None:
    badges = stores.badges
    for fact, member, subject in [
        ("f1", "ann", "q1"),
        ("f1", "ann", "q1"),
        ("f2", "ann", "q1"),
        ("f3", "bob", "q2"),
    ]:
        await badges.add_fact(fact, community_id=C1, member_id=member, kind="answer_to", subject_id=subject)
    assert await badges.count_facts(C1, "answer_to", "q1") == 2
    assert await badges.count_facts(C1, "answer_to", "q9") == 0
    assert await badges.fact_subjects(C1, "ann", "answer_to") == {"q1"}
    assert await badges.fact_subjects(C1, "cat", "answer_to") == set()


async def test_distinct_targets_count_each_post_once(stores: Stores) -> None:
    ledger = stores.ledger
    await record(ledger, entry("e1", Rule.ANSWER_ACCEPTED, amount=15, target="a1"))
    await record(ledger, entry("e2", Rule.ANSWER_ACCEPTED, amount=15, target="a1"))  # accepted again
    await record(ledger, entry("e3", Rule.ANSWER_ACCEPTED, amount=15, target="a2"))
    await record(ledger, entry("e4", Rule.ANSWER_POSTED, amount=5, target="a3"))
    assert await stores.badges.distinct_targets(C1, "bob", Rule.ANSWER_ACCEPTED.value) == 2
    assert await stores.badges.distinct_targets(C1, "bob", Rule.ANSWER_POSTED.value) == 1
    assert await stores.badges.distinct_targets(C1, "ann", Rule.ANSWER_ACCEPTED.value) == 0


# Custom badge definitions


def definition(
    definition_id: str,
    *,
    minutes: int = 0,
    event: CountedEvent = CountedEvent.QUESTION_ASKED,
    community: str = C1,
) -> BadgeDefinition:
    return BadgeDefinition(
        id=definition_id,
        community_id=community,
        title=f"Badge {definition_id}",
        description="",
        tier=Tier.BRONZE,
        template=Template(event, 3),
        repeatable=False,
        created_by="olivia",
        create_time=T0 + timedelta(minutes=minutes),
    )


async def test_a_definition_is_created_once_and_archived_once(stores: Stores) -> None:
    definitions = stores.definitions
    first = definition("d1")
    assert await definitions.create(first) == first
    assert await definitions.create(replace(first, title="Other")) == first
    assert await definitions.get("d1") == first
    assert await definitions.get("nope") is None
    archived = await definitions.archive("d1", T0 + timedelta(hours=1))
    assert archived == replace(first, archived=True, archive_time=T0 + timedelta(hours=1))
    assert await definitions.archive("d1", T0 + timedelta(hours=2)) == archived
    assert await definitions.archive("nope", T0) is None


async def test_definitions_page_newest_first_and_active_ones_by_event(stores: Stores) -> None:
    definitions = stores.definitions
    for i in range(5):
        await definitions.create(definition(f"d{i}", minutes=i, event=CountedEvent.QUESTION_ASKED))
    await definitions.create(definition("v1", minutes=9, event=CountedEvent.UPVOTE_RECEIVED))
    await definitions.create(definition("x1", minutes=9, community="c-2"))
    await definitions.archive("d3", T0)
    ids: list[str] = []
    token = ""
    while True:
        page = await definitions.page(C1, True, 2, token)
        ids += [d.id for d in page.items]
        token = page.next_token
        if not token:
            break
    assert ids == ["v1", "d4", "d3", "d2", "d1", "d0"]
    assert [d.id for d in (await definitions.page(C1, False, 10, "")).items] == ["v1", "d4", "d2", "d1", "d0"]
    active = await definitions.active(C1, CountedEvent.QUESTION_ASKED)
    assert sorted(d.id for d in active) == ["d0", "d1", "d2", "d4"]
    assert await definitions.active(C1, CountedEvent.COMMENT_POSTED) == []


async def test_events_are_counted_once_per_key_by_bucket_or_rolling_days(stores: Stores) -> None:
    definitions = stores.definitions
    week = Count("w1", 100, "w1")
    for key in ("q1", "q2", "q1"):
        await definitions.tick("d1", key, "ann", week)
    await definitions.tick("d1", "q3", "ann", Count("w2", 107, "w2"))
    await definitions.tick("d1", "q4", "bob", week)
    assert await definitions.counted("d1", "ann", week) == 2
    assert await definitions.counted("d1", "ann", Count("w2", 107, "w2")) == 1
    assert await definitions.counted("d2", "ann", week) == 0
    for key, day in (("r1", 10), ("r2", 11), ("r3", 13), ("r4", 20)):
        await definitions.tick("d9", key, "ann", Count("", day, "", window_start=day - 6))
    assert await definitions.counted("d9", "ann", Count("", 13, "", window_start=7)) == 3
    assert await definitions.counted("d9", "ann", Count("", 20, "", window_start=14)) == 1
    assert await definitions.counted("d9", "ann", Count("", 20, "", window_start=11)) == 3


async def test_the_last_award_day_moves_only_from_what_was_read(stores: Stores) -> None:
    definitions = stores.definitions
    assert await definitions.last_award_day("d1", "ann") is None
    assert await definitions.claim_award_day("d1", "ann", None, 10)
    assert not await definitions.claim_award_day("d1", "ann", None, 11)  # claimed by another
    assert not await definitions.claim_award_day("d1", "ann", 9, 11)
    assert await definitions.claim_award_day("d1", "ann", 10, 12)
    assert await definitions.last_award_day("d1", "ann") == 12
    await definitions.awarded_on("d1", "ann", 11)  # earlier: kept as it is
    assert await definitions.last_award_day("d1", "ann") == 12
    await definitions.awarded_on("d1", "ann", 15)
    await definitions.awarded_on("d1", "bob", 3)
    assert await definitions.last_award_day("d1", "ann") == 15
    assert await definitions.last_award_day("d1", "bob") == 3


# CPD


def cpd_rules(community: str = C1, *, year_cap: int = 600, month_cap: int = 0, at: datetime = T0) -> CpdRules:
    return CpdRules(
        community_id=community,
        minutes={CpdActivity.ANSWER_ACCEPTED: 30, CpdActivity.REFLECTION_SURVEY: 15},
        year_cap=year_cap,
        month_cap=month_cap,
        reflection_required=False,
        year_start_month=1,
        updated_by="olivia",
        update_time=at,
        time_zone="Europe/London",
    )


def credit(
    event: str,
    *,
    member: str = "ann",
    target: str = "a1",
    activity: CpdActivity = CpdActivity.ANSWER_ACCEPTED,
    minutes: int = 30,
    state: CreditState = CreditState.RESERVING,
    at: int = 0,
    year: int = 2026,
    community: str = C1,
) -> CpdCredit:
    return CpdCredit(
        id=f"{event}:cpd_{activity.value}",
        community_id=community,
        member_id=member,
        activity=activity,
        minutes=minutes,
        state=state,
        cpd_year=year,
        month="2026-01",
        time=T0 + timedelta(minutes=at),
        target_id=target,
        description="Answer accepted",
        evidence_url="https://guild.example.com/a1",
        source_event_id=event,
        region="emea",
        programme="sales",
    )


async def test_cpd_rules_keep_when_a_community_first_had_them(stores: Stores) -> None:
    cpd = stores.cpd
    assert await cpd.rules(C1) is None
    await cpd.put_rules(cpd_rules())
    changed = replace(cpd_rules(year_cap=300, at=T0 + timedelta(days=3)), month_cap=60)
    await cpd.put_rules(changed)
    stored = await cpd.rules(C1)
    assert stored == replace(changed, since=T0)
    await cpd.put_rules(cpd_rules("c-2"))
    assert set(await cpd.rules_of([C1, "c-2", "c-3"])) == {C1, "c-2"}
    assert await cpd.rules_of([]) == {}


async def test_a_credit_is_stored_once_per_id_and_once_per_target(stores: Stores) -> None:
    cpd = stores.cpd
    first = credit("e1")
    assert await cpd.add(first) == first
    assert await cpd.add(replace(first, minutes=99)) == first  # redelivered: the stored one
    assert await cpd.add(credit("e2")) is None  # another event about the same answer
    assert await cpd.add(credit("e3", target="a2")) == credit("e3", target="a2")
    assert await cpd.get(first.id) == first
    assert await cpd.get("nope") is None


async def test_reflections_start_counting_pending_credits_and_complete_settled_ones(stores: Stores) -> None:
    cpd = stores.cpd
    pending = credit("e1", state=CreditState.PENDING)
    await cpd.add(pending)
    thought = Reflection("learned", "change", T0 + timedelta(hours=1))
    assert await cpd.start_reflection(pending.id, "bob", thought) is None  # not bob's
    started = await cpd.start_reflection(pending.id, "ann", thought)
    assert started == replace(pending, state=CreditState.RESERVING, reflection=thought)
    assert await cpd.start_reflection(pending.id, "ann", thought) is None  # started already
    assert await cpd.add_reflection(pending.id, "ann", thought) is None  # still being counted
    assert await cpd.finish(started, CreditState.COUNTED, T0)
    assert not await cpd.finish(started, CreditState.OVER_CAP, T0)  # settled already
    settled = credit("e2", target="a2")
    await cpd.add(settled)
    assert await cpd.finish(settled, CreditState.OVER_CAP, T0)
    later = Reflection("more", "else", T0 + timedelta(hours=2))
    added = await cpd.add_reflection(settled.id, "ann", later)
    assert added == replace(settled, state=CreditState.OVER_CAP, reflection=later)
    assert await cpd.add_reflection(settled.id, "ann", thought) is None  # has one
    assert (await cpd.get(pending.id)) == replace(started, state=CreditState.COUNTED)


async def test_counters_count_each_credit_once_within_the_cap(stores: Stores) -> None:
    cpd = stores.cpd
    fields = {"community_id": C1, "member_id": "ann", "kind": "year", "year": 2026}
    counter = f"y:{C1}:ann:2026"
    assert await cpd.reserve(counter, fields, "c1", 40, 100)
    assert await cpd.reserve(counter, fields, "c1", 40, 100)  # counted before
    assert await cpd.reserve(counter, fields, "c2", 40, 100)
    assert not await cpd.reserve(counter, fields, "c3", 40, 100)  # past the cap
    assert not await cpd.reserve(counter, fields, "c4", 200, 100)
    await cpd.release(counter, "c2", 40)
    await cpd.release(counter, "c2", 40)  # not on it any more: nothing
    await cpd.release(counter, "c9", 40)
    assert await cpd.reserve(counter, fields, "c3", 40, 100)
    assert not await cpd.reserve(counter, fields, "c5", 40, 100)


async def test_the_log_pages_by_time_and_totals_add_up_by_state(stores: Stores) -> None:
    cpd = stores.cpd
    credits = [
        credit("e1", target="a1", at=3),
        credit("e2", target="a2", at=1),
        credit("e3", target="s1", activity=CpdActivity.REFLECTION_SURVEY, minutes=15, at=2),
        credit("e4", target="a3", at=4, state=CreditState.PENDING),
        credit("e5", target="a4", at=5),
        credit("e6", target="a5", at=0, community="c-2"),
        credit("e7", target="a6", at=0, year=2025),
        credit("e8", target="a7", at=0, member="bob"),
    ]
    for c in credits:
        await cpd.add(c)
    for c, state in (
        (credits[0], CreditState.COUNTED),
        (credits[2], CreditState.COUNTED),
        (credits[4], CreditState.OVER_CAP),
        (credits[5], CreditState.COUNTED),
    ):
        await cpd.finish(c, state, T0)
    ids: list[str] = []
    token = ""
    while True:
        page = await cpd.page("ann", 2026, C1, 2, token)
        ids += [c.source_event_id for c in page.items]
        token = page.next_token
        if not token:
            break
    assert ids == ["e2", "e3", "e1", "e4", "e5"]
    assert [c.source_event_id for c in await cpd.log("ann", 2026, "", 10)] == [
        "e6",
        "e2",
        "e3",
        "e1",
        "e4",
        "e5",
    ]
    assert [c.source_event_id for c in await cpd.log("ann", 2026, "", 2)] == ["e6", "e2"]
    assert await cpd.totals("ann", 2026, C1) == Totals(
        counted_minutes=45,
        pending_minutes=60,
        counted_credits=2,
        pending_credits=2,
        over_cap_credits=1,
        by_activity=((CpdActivity.ANSWER_ACCEPTED, 30), (CpdActivity.REFLECTION_SURVEY, 15)),
    )
    assert (await cpd.totals("ann", 2026, "")).counted_minutes == 75
    assert await cpd.totals("zed", 2026, "") == Totals()


async def test_owners_see_the_totals_members_share(stores: Stores) -> None:
    cpd = stores.cpd
    for member, minutes in (("ann", 30), ("bob", 45), ("cat", 15), ("dan", 0)):
        fields = {"community_id": C1, "member_id": member, "kind": "year", "year": 2026}
        if minutes:
            await cpd.reserve(f"y:{C1}:{member}:2026", fields, f"{member}-1", minutes, 600)
    await cpd.set_sharing(C1, "cat", True, T0)
    await cpd.set_sharing(C1, "ann", True, T0)
    await cpd.set_sharing(C1, "dan", True, T0)
    await cpd.set_sharing(C1, "eve", True, T0)
    await cpd.set_sharing(C1, "eve", False, T0 + timedelta(seconds=1))
    await cpd.set_sharing("c-2", "bob", True, T0)
    shared: list[MemberTotal] = []
    token = ""
    while True:
        page = await cpd.shared_page(C1, 2026, 2, token)
        shared += page.items
        token = page.next_token
        if not token:
            break
    assert shared == [MemberTotal("ann", 30, 1), MemberTotal("cat", 15, 1), MemberTotal("dan", 0, 0)]
    assert await cpd.not_shared(C1, 2026) == 1  # bob
    assert await cpd.not_shared(C1, 2025) == 0


# Insights and pilots


def at(days: float = 0, hours: float = 0) -> datetime:
    return T0 + timedelta(days=days, hours=hours)


async def joined(
    stores: Stores, member: str, when: datetime, community: str = C1, region: str = "emea"
) -> None:
    await stores.insights.member_joined(community, member, region, "sales", when)


async def test_members_count_from_their_latest_join_until_they_leave(stores: Stores) -> None:
    insights = stores.insights
    assert not await insights.known_community(C1)
    await joined(stores, "ann", at(0))
    await joined(stores, "ann", at(-5))  # an older join: the latest stays
    await joined(stores, "bob", at(1))
    await insights.member_left(C1, "bob", "emea", "sales", at(3))
    await insights.member_left(C1, "bob", "emea", "sales", at(2))  # an older leave: the later stays
    await insights.member_left(C1, "cat", "emea", "sales", at(1))  # never joined: known, not a member
    await joined(stores, "dan", at(5))
    await insights.member_left(C1, "dan", "emea", "sales", at(4))  # left before rejoining: still in
    assert await insights.known_community(C1)
    assert not await insights.known_community("c-2")
    assert [await insights.members(Scope.COMMUNITY, C1, at(d)) for d in (-1, 0, 1, 2.5, 3, 6)] == [
        0,
        1,
        2,
        2,
        1,
        2,
    ]
    await joined(stores, "bob", at(4))  # rejoined
    assert await insights.members(Scope.COMMUNITY, C1, at(6)) == 3
    assert await stores.pilot.members_at(C1, at(6)) == {"ann", "bob", "dan"}
    assert await stores.pilot.members_at(C1, at(2.5)) == {"ann"}  # bob's latest join counts


async def test_scopes_count_each_member_once_and_leave_excluded_communities_out(stores: Stores) -> None:
    await joined(stores, "ann", at(0), C1)
    await joined(stores, "ann", at(0), "c-2")
    await joined(stores, "bob", at(0), "c-3", region="apac")
    insights = stores.insights
    assert await insights.members(Scope.PROGRAMME, "sales", at(1)) == 2
    assert await insights.members(Scope.REGION, "emea", at(1)) == 1
    assert await insights.members(Scope.REGION, "emea", at(1), exclude=frozenset({C1, "c-2"})) == 0
    assert await insights.members(Scope.COMMUNITY, C1, at(1)) == 1


async def test_posts_contributors_and_activity(stores: Stores) -> None:
    insights = stores.insights
    await joined(stores, "ann", at(0))
    posts = [
        ("q1", PostKind.QUESTION, "ann", at(1), ""),
        ("q1", PostKind.QUESTION, "ann", at(1), ""),  # redelivered
        ("a1", PostKind.ANSWER, "bob", at(1, 2), "q1"),
        ("a2", PostKind.ANSWER, "bob", at(2), "q1"),
        ("m1", PostKind.COMMENT, "cat", at(2), ""),
        ("r1", PostKind.RESOURCE, "ann", at(9), ""),  # outside the span
    ]
    for post_id, kind, author, when, question in posts:
        await insights.posted(post_id, kind, C1, author, "emea", "sales", when, question)
    await insights.active(C1, "dan", "emea", "sales", at(2))
    await insights.active(C1, "dan", "emea", "sales", at(2, 1))
    since, until = at(0), at(7)
    assert await insights.contributors(Scope.COMMUNITY, C1, since, until) == 3
    assert await insights.posts(Scope.COMMUNITY, C1, since, until) == {
        PostKind.QUESTION: 1,
        PostKind.ANSWER: 2,
        PostKind.COMMENT: 1,
        PostKind.RESOURCE: 0,
    }
    assert await insights.top_contributors(Scope.COMMUNITY, C1, since, until, 2) == [("bob", 2), ("ann", 1)]
    assert await insights.active_members(Scope.COMMUNITY, C1, at(3), A_WEEK) == 4
    assert (
        await insights.active_members(Scope.COMMUNITY, C1, at(2, -9), A_WEEK) == 2
    )  # the days before the 2nd
    assert await insights.active_members(Scope.COMMUNITY, C1, at(3), A_WEEK, exclude=frozenset({C1})) == 0
    pilot = stores.pilot
    assert await pilot.active_in(C1, at(2), at(3)) == {"bob", "cat", "dan"}
    assert await pilot.active_among(["ann", "dan", "zed"], since, until, frozenset()) == {"ann", "dan"}
    assert await pilot.active_among(["ann", "dan"], since, until, frozenset({C1})) == set()


async def test_new_starters_and_how_soon_they_ask(stores: Stores) -> None:
    insights = stores.insights
    await joined(stores, "old", at(-60))
    await joined(stores, "ann", at(0))
    await joined(stores, "bob", at(1))
    await joined(stores, "cat", at(2))
    await insights.posted("q1", PostKind.QUESTION, C1, "ann", "emea", "sales", at(3))
    await insights.posted("q2", PostKind.QUESTION, C1, "bob", "emea", "sales", at(40))
    await insights.posted("m1", PostKind.COMMENT, C1, "cat", "emea", "sales", at(4))
    assert await insights.new_starters(Scope.COMMUNITY, C1, at(10)) == (3, 2)
    assert await insights.new_starters(Scope.PROGRAMME, "sales", at(5)) == (3, 2)
    assert await insights.starters_asking_soon(C1, at(-1), at(5), A_MONTH) == (3, 1)
    assert await insights.starters_asking_soon(C1, at(-1), at(5), timedelta(days=60)) == (3, 2)


async def test_questions_keep_their_earliest_times_whatever_the_order(stores: Stores) -> None:
    insights = stores.insights
    await insights.question_answered("q1", C1, "emea", "sales", at(0, 3))  # before the asking is known
    await insights.question_asked("q1", C1, "emea", "sales", at(0), ["python"])
    await insights.question_answered("q1", C1, "emea", "sales", at(0, 5))  # a later answer
    await insights.question_asked("q2", C1, "emea", "sales", at(1))
    await insights.question_answered("q2", C1, "emea", "sales", at(3))
    await insights.question_asked("q3", C1, "emea", "sales", at(2))
    await insights.question_asked("q9", C1, "emea", "sales", at(30))
    figures = await insights.questions(Scope.COMMUNITY, C1, at(0), at(7))
    assert figures == QuestionFigures(
        asked=3, answered=2, median_seconds=(3 * 3600 + 2 * 86400) / 2, answered_within_24h=1
    )
    assert await stores.pilot.answer_seconds(C1, at(0), at(7)) == [3 * 3600.0, 2 * 86400.0, None]
    for question_id, when in (("q1", at(0)), ("q2", at(1)), ("q3", at(2))):
        author = "ann" if question_id != "q3" else "bob"
        await insights.posted(question_id, PostKind.QUESTION, C1, author, "emea", "sales", when)
    assert sorted(await stores.pilot.answer_seconds_by(["ann"], at(0), at(7), frozenset()), key=str) == [
        3 * 3600.0,
        2 * 86400.0,
    ]
    assert await stores.pilot.answer_seconds_by(["bob"], at(0), at(7), frozenset()) == [None]
    assert await stores.pilot.answer_seconds_by(["ann"], at(0), at(7), frozenset({C1})) == []


async def test_a_pilot_keeps_its_latest_control(stores: Stores) -> None:
    pilot = stores.pilot
    assert await pilot.control(C1) is None
    await pilot.set_control(PilotControl(C1, "c-2", (), 2))
    await pilot.set_control(PilotControl(C1, "", ("ann", "bob"), 1))  # older
    assert await pilot.control(C1) == PilotControl(C1, "c-2", (), 2)
    await pilot.set_control(PilotControl(C1, "", ("ann", "bob"), 3))
    assert await pilot.control(C1) == PilotControl(C1, "", ("ann", "bob"), 3)


# Recognition


async def test_acceptances_and_ratings_keep_their_latest_change(stores: Stores) -> None:
    recognition = stores.recognition
    await recognition.acceptance("a1", "bob", True, at(0, 2))
    await recognition.acceptance("a1", "bob", False, at(0, 1))  # older: ignored
    await recognition.acceptance("a2", "bob", True, at(0))
    await recognition.acceptance("a2", "bob", False, at(0, 3))
    await recognition.acceptance("a3", "bob", True, at(0))
    assert await recognition.accepted(["a1", "a2", "a3", "a9"]) == 2
    assert await recognition.accepted([]) == 0
    await recognition.rated("r1", "ann", 4.0, 2, at(0, 2))
    await recognition.rated("r1", "ann", 1.0, 1, at(0, 1))  # older: ignored
    await recognition.rated("r2", "ann", 5.0, 1, at(0))
    assert await recognition.ratings(["r1", "r2", "r9"]) == (4.33, 3)
    assert await recognition.ratings([]) == (0.0, 0)


async def test_role_changes_and_collections_are_kept_once(stores: Stores) -> None:
    recognition = stores.recognition
    granted = RoleChange(C1, "moderator", True, at(1))
    await recognition.role_changed("e1", "ann", granted)
    await recognition.role_changed("e1", "ann", RoleChange(C1, "owner", True, at(1)))  # redelivered id
    await recognition.role_changed("e2", "ann", RoleChange(C1, "moderator", False, at(3)))
    await recognition.role_changed("e3", "ann", RoleChange("c-2", "curator", True, at(0)))
    assert await recognition.role_changes("ann", at(2)) == [
        RoleChange("c-2", "curator", True, at(0)),
        granted,
    ]
    assert len(await recognition.role_changes("ann", at(9))) == 3
    for collection, community, when in (
        ("k1", C1, at(1)),
        ("k1", C1, at(2)),
        ("k2", "c-2", at(2)),
        ("k3", C1, at(9)),
    ):
        await recognition.collection_published(collection, community, "cur", when)
    assert await recognition.collections_curated("cur", at(0), at(5)) == 2
    assert await recognition.collections_curated("cur", at(0), at(5), exclude=frozenset({"c-2"})) == 1
    assert await recognition.curated_in("cur", at(0), at(5)) == frozenset({C1, "c-2"})
    assert await recognition.collections_curated("ann", at(0), at(5)) == 0


async def test_summaries_read_posts_tags_badges_and_memberships_of_the_other_stores(stores: Stores) -> None:
    recognition = stores.recognition
    await stores.roles.put(C1, "ann", "owner", at(0))
    await stores.roles.put("c-2", "ann", "member", at(0))
    await stores.roles.put("c-3", "ann", "", at(0))  # left
    assert await recognition.memberships("ann") == {C1: "owner", "c-2": "member"}
    await stores.insights.question_asked("q1", C1, "emea", "sales", at(1), ["python", "go"])
    await stores.insights.posted("q1", PostKind.QUESTION, C1, "ann", "emea", "sales", at(1))
    await stores.insights.posted("a1", PostKind.ANSWER, "c-2", "ann", "emea", "sales", at(2), "q9")
    await stores.insights.posted("m1", PostKind.COMMENT, C1, "ann", "emea", "sales", at(9))
    posts = await recognition.posts("ann", at(0), at(5))
    assert [(p["_id"], p["kind"], p["community_id"], p["question_id"]) for p in posts] == [
        ("question:q1", "question", C1, "q1"),
        ("answer:a1", "answer", "c-2", "q9"),
    ]
    assert await recognition.question_tags(["q1", "q9"]) == [["python", "go"]]
    assert await recognition.question_tags([]) == []
    for minutes, badge in (
        (60, Badge.FIRST_QUESTION),
        (120, Badge.FIRST_ANSWER),
        (9 * 24 * 60, Badge.STREAK),
    ):
        await stores.badges.award(award("ann", badge, minutes=minutes), region="emea", programme="sales")
    badges = await recognition.badges("ann", at(0), at(5))
    assert [a.badge for a in badges] == ["first_answer", "first_question"]  # newest first


async def test_a_summary_is_issued_once_per_id(stores: Stores) -> None:
    summary = ContributionSummary("ann", at(0), at(7), 1, 0, 0, 0, 0, 0.0, 0, [], [], [C1], [])
    assert await stores.recognition.issue("ann:olivia:r1", summary, "olivia", "emea", "sales")
    assert not await stores.recognition.issue("ann:olivia:r1", summary, "olivia", "emea", "sales")
