"""Membership changes stay exact when two replicas make them at once.

Each replica is its own client, repository and use cases, as two processes would be: nothing in one
process can serialise them, so only the store's atomic updates keep the counts, the cap and the roster
right.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from guild_common.auth import Principal
from guild_common.clock import utc_now
from guild_common.errors import FailedPrecondition
from guild_common.mongo import Document, ensure_indexes
from guild_community.adapters.communities_store import SCHEMA, MongoCommunityRepository
from guild_community.adapters.experts_store import MongoExpertDirectory
from guild_community.adapters.membership_store import SCHEMA as MEMBERSHIP_SCHEMA
from guild_community.adapters.people_store import MongoPeopleRepository
from guild_community.adapters.roster_store import ROSTERS
from guild_community.app.communities import CommunityUseCases, NewCommunity
from guild_community.app.membership import MembershipUseCases
from guild_community.app.ports import PointsEntry
from guild_community.domain.communities import Lifecycle, Visibility
from guild_community.domain.experts import ALL_COMMUNITIES
from guild_community.domain.membership import Role
from guild_community.domain.people import Follow
from guild_testing.fixtures import Infra, database_name

OWNER = Principal("olivia")


@dataclass
class Replicas:
    first: MembershipUseCases
    second: MembershipUseCases
    db: AsyncDatabase[Document]
    communities: CommunityUseCases

    def each(self, count: int) -> list[MembershipUseCases]:
        """``count`` use-case objects alternating between the two replicas."""
        return [self.first if i % 2 == 0 else self.second for i in range(count)]


@pytest_asyncio.fixture
async def replicas(infra: Infra, request: pytest.FixtureRequest) -> AsyncIterator[Replicas]:
    clients: list[AsyncMongoClient[Document]] = [
        AsyncMongoClient(infra.mongo_uri, tz_aware=True) for _ in range(2)
    ]
    name = database_name(request.node.name)
    await clients[0].drop_database(name)
    dbs = [c[name] for c in clients]
    await ensure_indexes(dbs[0], [*SCHEMA.indexes, *MEMBERSHIP_SCHEMA.indexes])
    repositories = [MongoCommunityRepository(db, on_events=lambda *hint: None) for db in dbs]
    use_cases = [MembershipUseCases(repository) for repository in repositories]
    communities = CommunityUseCases(repositories[0], regions=["emea"])
    try:
        yield Replicas(use_cases[0], use_cases[1], dbs[0], communities)
    finally:
        for client in clients:
            await client.close()


async def _create(replicas: Replicas, slug: str, *, pilot_cap: int = 0) -> str:
    community = await replicas.communities.create_community(
        OWNER,
        NewCommunity(
            name=slug,
            slug=slug,
            description="",
            programme="sales",
            region="emea",
            visibility=Visibility.OPEN,
            request_id="",
            lifecycle=Lifecycle.PILOT if pilot_cap else Lifecycle.LIVE,
            pilot_cap=pilot_cap,
        ),
    )
    return community.id


async def _counts(replicas: Replicas, cid: str) -> tuple[int, int]:
    doc = await replicas.db["communities"].find_one({"_id": cid})
    assert doc is not None
    return doc["member_count"], doc["owner_count"]


async def _roster(replicas: Replicas, cid: str) -> list[str]:
    """Members listed by the roster, in order, with no entry twice."""
    page = await replicas.first.list_members(OWNER, cid, None, 500, "")
    return [m.member_id for m in page.items]


async def test_joins_and_leaves_on_two_replicas_keep_the_count_and_roster_exact(replicas: Replicas) -> None:
    cid = await _create(replicas, "busy")
    people = [f"p{i:03d}" for i in range(300)]
    # Everyone joins (each twice, once per replica), and a third of them leave again, all at once.
    await asyncio.gather(
        *(uc.join(Principal(p), cid) for p in people for uc in (replicas.first, replicas.second))
    )
    leavers = people[::3]
    await asyncio.gather(
        *(uc.leave(Principal(p), cid) for p, uc in zip(leavers, replicas.each(len(leavers)), strict=True))
    )
    stayed = sorted({"olivia", *people} - set(leavers))
    assert await _counts(replicas, cid) == (len(stayed), 1)
    assert sorted(await _roster(replicas, cid)) == stayed
    # Every roster entry sits at its own position: none overwrote another.
    chunks = await replicas.db[ROSTERS].find({"community_id": cid}).to_list()
    entries = [e["m"] for c in chunks for e in c["entries"]]
    assert sorted(entries) == sorted(["olivia", *people])
    assert all(c["n"] == len(c["entries"]) for c in chunks)


async def test_a_pilot_cap_holds_against_joins_on_two_replicas(replicas: Replicas) -> None:
    cid = await _create(replicas, "pilot", pilot_cap=10)
    people = [f"p{i}" for i in range(40)]
    for p in people:  # a pilot admits its invited cohort only
        await replicas.first.invite(OWNER, cid, p)
    results = await asyncio.gather(
        *(uc.accept_invitation(Principal(p), cid) for p, uc in zip(people, replicas.each(40), strict=True)),
        return_exceptions=True,
    )
    joined = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, FailedPrecondition) and r.reason == "PILOT_CAP_REACHED"]
    assert (len(joined), len(refused)) == (9, 31)
    assert await _counts(replicas, cid) == (10, 1)
    assert len(await _roster(replicas, cid)) == 10


async def test_two_owners_leaving_at_once_on_two_replicas_leave_one_owner(replicas: Replicas) -> None:
    cid = await _create(replicas, "owners")
    for who in ("ann", "bob"):
        await replicas.first.join(Principal(who), cid)
        await replicas.first.grant_role(OWNER, cid, who, Role.OWNER)
    assert await _counts(replicas, cid) == (3, 3)
    # All three owners leave at once: whoever is last is refused.
    results = await asyncio.gather(
        replicas.first.leave(OWNER, cid),
        replicas.second.leave(Principal("ann"), cid),
        replicas.first.leave(Principal("bob"), cid),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, FailedPrecondition) and r.reason == "LAST_OWNER"]
    assert len(refused) == 1, results
    assert results.count(None) == 2
    page = await replicas.second.list_members(OWNER, cid, Role.OWNER, 10, "")
    assert len(page.items) == 1
    assert await _counts(replicas, cid) == (1, 1)


async def test_demotions_on_two_replicas_at_once_leave_one_owner(replicas: Replicas) -> None:
    cid = await _create(replicas, "demotions")
    for who in ("ann", "bob"):
        await replicas.first.join(Principal(who), cid)
        await replicas.first.grant_role(OWNER, cid, who, Role.OWNER)
    # Each owner demotes another at once, in a ring: at most two of the three demotions can succeed.
    ring = [("olivia", "ann"), ("ann", "bob"), ("bob", "olivia")]
    results = await asyncio.gather(
        *(
            uc.revoke_role(Principal(actor), cid, target, Role.OWNER)
            for (actor, target), uc in zip(ring, replicas.each(3), strict=True)
        ),
        return_exceptions=True,
    )
    owners = (await replicas.first.list_members(OWNER, cid, Role.OWNER, 10, "")).items
    assert len(owners) >= 1
    assert await _counts(replicas, cid) == (3, len(owners))
    assert len(owners) == 3 - sum(1 for r in results if not isinstance(r, BaseException))


async def test_follows_and_unfollows_on_two_replicas_keep_the_counts_exact(
    replicas: Replicas, infra: Infra, request: pytest.FixtureRequest
) -> None:
    clients = [AsyncMongoClient[Document](infra.mongo_uri, tz_aware=True) for _ in range(2)]
    try:
        name = database_name(request.node.name)
        repos = [MongoPeopleRepository(c[name], on_events=lambda *hint: None) for c in clients]
        now = utc_now()
        follows = [Follow(f"f{i}", "star", now) for i in range(60)]
        # Each follow made on both replicas at once, then a third undone on both at once.
        await asyncio.gather(*(repo.add_follow(f) for f in follows for repo in repos))
        await asyncio.gather(*(repo.remove_follow(f, now) for f in follows[::3] for repo in repos))
        star = await repos[0].get_profile("star")
        assert star is not None
        assert star.follower_count == 40
        fan = await repos[1].get_profile("f1")
        gone = await repos[1].get_profile("f0")
        assert (fan and fan.following_count, gone and gone.following_count) == (1, 0)
    finally:
        for client in clients:
            await client.close()


async def test_expert_points_from_two_replicas_add_up_exactly(
    replicas: Replicas, infra: Infra, request: pytest.FixtureRequest
) -> None:
    cid = await _create(replicas, "experts")
    await replicas.first.join(Principal("ann"), cid)
    clients = [AsyncMongoClient[Document](infra.mongo_uri, tz_aware=True) for _ in range(2)]
    try:
        name = database_name(request.node.name)
        directories = [MongoExpertDirectory(c[name]) for c in clients]
        now = utc_now()
        entries = [PointsEntry(f"e{i}", cid, "ann", 5, ["python", "sql"], now) for i in range(30)]

        async def points_changed(directory: MongoExpertDirectory, entry: PointsEntry) -> None:
            await directory.add_points(entry)
            await directory.refresh(cid, "ann", entry.tags)
            await directory.refresh(ALL_COMMUNITIES, "ann", entry.tags)

        # Every entry delivered to both replicas at once (a redelivery racing the first delivery).
        await asyncio.gather(*(points_changed(d, e) for e in entries for d in directories))
        for scope in (cid, ALL_COMMUNITIES):
            page = await directories[0].list_experts(scope, "python", 10, "")
            assert [(x.member_id, x.points, x.score) for x in page.items] == [("ann", 150, 150)]
    finally:
        for client in clients:
            await client.close()
