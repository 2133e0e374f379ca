"""Membership at scale: a community of N members against one of 10, over gRPC, with an echo baseline.

Run: .venv/bin/python bench/community_membership.py --members 100000
Starts its own FerretDB (or uses --mongo-uri), runs the community service's servicer, use cases and
repositories behind its real gRPC server (auth interceptor, logging, error mapping) in this process, and:
- creates two open, live communities over gRPC (big and small);
- seeds the big one with N-1 members by bulk inserts straight into the service's database
  (memberships and their roster chunks, as the service writes them; the small one gets 9 the same
  way), and sets their stored member counts;
- times, interleaved so both sizes and the baseline see the same machine load:
  GetMembership (the membership check), JoinCommunity (a new person each call),
  ListMembers first page and a deep page (reached by walking the pages with their tokens),
  and a bare gRPC echo (no interceptors) in the same process;
- prints medians and p99 per size and the big / small ratio.

The outbox relay is left out, as in bench/reputation_standing.py: on FerretDB's SQLite backend its sweep
(``find({"pending": true})``) reads the whole memberships collection, and with 100,000 memberships that
scan, started after every join, saturates FerretDB and slows every request, whatever the community.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import structlog
from pymongo import AsyncMongoClient

from guild.community.v1 import community_pb2 as cpb
from guild.community.v1 import community_service_pb2 as api
from guild.community.v1 import community_service_pb2_grpc as api_grpc
from guild_common.clock import utc_now
from guild_common.grpc.channels import service_channel
from guild_common.grpc.server import ServiceServer
from guild_common.mongo import create_client, ensure_indexes
from guild_community.adapters.communities_store import COMMUNITIES, SCHEMA, MongoCommunityRepository
from guild_community.adapters.experts_store import SCHEMA as EXPERT_SCHEMA
from guild_community.adapters.experts_store import MongoExpertDirectory
from guild_community.adapters.goals_store import SCHEMA as GOAL_SCHEMA
from guild_community.adapters.goals_store import MongoGoalRepository
from guild_community.adapters.membership_store import MEMBERSHIPS
from guild_community.adapters.membership_store import SCHEMA as MEMBERSHIP_SCHEMA
from guild_community.adapters.people_store import SCHEMA as PEOPLE_SCHEMA
from guild_community.adapters.people_store import MongoPeopleRepository
from guild_community.adapters.reputation_client import ReputationGoalMeasurer
from guild_community.adapters.roster_store import CHUNK, ROSTERS, chunk_id, head_id
from guild_community.adapters.surveys_store import SCHEMA as SURVEY_SCHEMA
from guild_community.adapters.surveys_store import MongoSurveyRepository
from guild_community.app.communities import CommunityUseCases
from guild_community.app.experts import ExpertQueries
from guild_community.app.goals import GoalUseCases
from guild_community.app.membership import MembershipUseCases
from guild_community.app.people import PeopleUseCases
from guild_community.app.surveys import SurveyUseCases
from guild_community.bootstrap import SERVICE_NAME
from guild_community.config import CommunitySettings
from guild_community.domain.membership import membership_key
from guild_community.entrypoints.grpc.community_service import CommunityServicer
from guild_testing.bench import bare_echo_server
from guild_testing.fixtures import token_for
from guild_testing.servers import FerretServer

ECHO = "/guild.bench.v1.EchoService/Echo"
DB = "guild_community_bench"
SMALL = 10
DEEP_PAGE = 5


def _us(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1e6, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e6


async def _seed(uri: str, community_id: str, members: int) -> float:
    """Insert members-1 memberships (the owner is already one) with their roster entries, as the
    service stores them, and store the member count."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    db = client[DB]
    start = utc_now() + timedelta(seconds=1)
    started = time.perf_counter()
    batch = 10_000
    total = members - 1
    chunks: dict[int, list[dict[str, Any]]] = {}
    for i in range(0, total, batch):
        docs = []
        for j in range(i, min(total, i + batch)):
            member, joined = f"m-{j:07d}", start + timedelta(milliseconds=j)
            chunk, index = divmod(j + 1, CHUNK)  # position 0 is the owner's
            docs.append(
                {
                    "_id": membership_key(community_id, member),
                    "community_id": community_id,
                    "member_id": member,
                    "role": "member",
                    "join_time": joined,
                    "roster": [chunk, index],
                }
            )
            chunks.setdefault(chunk, []).append({"m": member, "r": "member", "t": joined})
        await db[MEMBERSHIPS].insert_many(docs, ordered=False)
    rosters = db[ROSTERS]
    await rosters.update_one(
        {"_id": chunk_id(community_id, 0)}, {"$push": {"entries": {"$each": chunks.pop(0, [])}}}
    )
    pending = [
        {"_id": chunk_id(community_id, c), "community_id": community_id, "entries": e}
        for c, e in chunks.items()
    ]
    for i in range(0, len(pending), 100):
        await rosters.insert_many(pending[i : i + 100])
    last_chunk, last_index = divmod(total, CHUNK)
    await rosters.update_one(
        {"_id": head_id(community_id)}, {"$set": {"chunk": last_chunk, "size": last_index + 1}}
    )
    await db[COMMUNITIES].update_one({"_id": community_id}, {"$set": {"member_count": members}})
    await client.close()
    return time.perf_counter() - started


async def _run(args: argparse.Namespace, uri: str) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    rng = random.Random(args.seed)
    settings = CommunitySettings.model_validate(
        {
            "mongo_uri": uri,
            "mongo_db": DB,
            "grpc_host": "127.0.0.1",
            "grpc_port": 0,
            # one caller drives the load: the per-caller rate limit would measure itself
            "rate_limit_per_second": 0,
        }
    )
    client = create_client(uri, app_name="bench")
    await client.drop_database(DB)
    db = client[DB]
    await ensure_indexes(
        db,
        [
            *SCHEMA.indexes,
            *MEMBERSHIP_SCHEMA.indexes,
            *PEOPLE_SCHEMA.indexes,
            *SURVEY_SCHEMA.indexes,
            *GOAL_SCHEMA.indexes,
            *EXPERT_SCHEMA.indexes,
        ],
    )
    # The service's servicer, use cases and repositories behind its real gRPC server (auth interceptor,
    # logging, error mapping), without the outbox relay: events stay in the outbox (see the docstring).
    # The goal report's reputation service is not called here; its channel is never used.
    repository = MongoCommunityRepository(db, on_events=lambda *_: None)
    use_cases = CommunityUseCases(repository, regions=settings.regions)
    membership = MembershipUseCases(repository)
    reputation_channel = service_channel(settings.reputation_addr)
    servicer = CommunityServicer(
        use_cases,
        membership,
        PeopleUseCases(MongoPeopleRepository(db, on_events=lambda *_: None), regions=settings.regions),
        SurveyUseCases(MongoSurveyRepository(db, on_events=lambda *_: None), repository),
        GoalUseCases(
            MongoGoalRepository(db, on_events=lambda *_: None),
            repository,
            ReputationGoalMeasurer(reputation_channel),
        ),
        ExpertQueries(MongoExpertDirectory(db), use_cases),
    )

    def register(server: grpc.aio.Server) -> list[str]:
        api_grpc.add_CommunityServiceServicer_to_server(servicer, server)
        return [SERVICE_NAME]

    async def healthy() -> bool:
        return True

    service = ServiceServer(settings, register=register, workers=[], healthy=healthy)
    await service.start()
    owner = [("authorization", f"Bearer {token_for('bench-owner')}")]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        stub = api_grpc.CommunityServiceStub(channel)
        ids: dict[str, str] = {}
        sizes = {"big": args.members, "small": SMALL}
        for label in sizes:
            created: api.CreateCommunityResponse = await stub.CreateCommunity(
                api.CreateCommunityRequest(
                    name=f"Bench {label}",
                    slug=f"bench-{label}",
                    programme="sales",
                    region="emea",
                    visibility=cpb.VISIBILITY_OPEN,
                    lifecycle=cpb.LIFECYCLE_LIVE,
                ),
                metadata=owner,
            )
            ids[label] = created.community.id
        seed_s = await _seed(uri, ids["big"], args.members)
        await _seed(uri, ids["small"], SMALL)

        # Walk every page of each community with its tokens; keep the token of the last full page.
        walk: dict[str, float] = {}
        deep_token: dict[str, str] = {}
        for label, size in sizes.items():
            page = 500 if size > 1000 else DEEP_PAGE
            token, seen, tokens = "", 0, []
            started = time.perf_counter()
            while True:
                listed: api.ListMembersResponse = await stub.ListMembers(
                    api.ListMembersRequest(community_id=ids[label], page_size=page, page_token=token),
                    metadata=owner,
                )
                seen += len(listed.members)
                if not listed.next_page_token:
                    break
                token = listed.next_page_token
                tokens.append(token)
            walk[label] = time.perf_counter() - started
            assert seen == size, (label, seen, size)
            deep_token[label] = tokens[-1]

        echo_server, echo_port = bare_echo_server()
        await echo_server.start()
        person = [("authorization", f"Bearer {token_for('bench-reader')}")]
        samples: dict[str, list[float]] = {}

        async def timed(name: str, call: Callable[[], Awaitable[Any]]) -> None:
            t0 = time.perf_counter()
            await call()
            samples.setdefault(name, []).append(time.perf_counter() - t0)

        joiners = {label: iter(f"joiner-{label}-{i:06d}" for i in range(10**6)) for label in sizes}
        async with grpc.aio.insecure_channel(f"127.0.0.1:{echo_port}") as echo_channel:
            echo = echo_channel.unary_unary(ECHO)
            payload = api.GetMembershipRequest(community_id=ids["big"], member_id="m-0000001")

            def ops(label: str) -> list[tuple[str, Callable[[], Awaitable[Any]]]]:
                cid, size = ids[label], sizes[label]
                member = f"m-{rng.randrange(size - 1):07d}"
                joiner = [("authorization", f"Bearer {token_for(next(joiners[label]))}")]
                return [
                    (
                        f"GetMembership {label}",
                        lambda: stub.GetMembership(
                            api.GetMembershipRequest(community_id=cid, member_id=member), metadata=person
                        ),
                    ),
                    (
                        f"JoinCommunity {label}",
                        lambda: stub.JoinCommunity(
                            api.JoinCommunityRequest(community_id=cid),
                            metadata=joiner,
                        ),
                    ),
                    (
                        f"ListMembers first {label}",
                        lambda: stub.ListMembers(
                            api.ListMembersRequest(community_id=cid, page_size=DEEP_PAGE), metadata=person
                        ),
                    ),
                    (
                        f"ListMembers deep {label}",
                        lambda: stub.ListMembers(
                            api.ListMembersRequest(
                                community_id=cid, page_size=DEEP_PAGE, page_token=deep_token[label]
                            ),
                            metadata=person,
                        ),
                    ),
                ]

            for _ in range(50):  # warm every path
                for label in sizes:
                    for _name, call in ops(label):
                        await call()
                await echo(payload.SerializeToString(), metadata=person)
            for _ in range(args.rounds):
                for label in sizes:
                    for name, call in ops(label):
                        await timed(name, call)
                await timed("echo", lambda: echo(payload.SerializeToString(), metadata=person))
        await echo_server.stop(None)
    await service.stop()
    await reputation_channel.close()
    await client.close()

    print(f"members in the big community   {args.members:>10,}   (small: {SMALL})")
    print(f"seed by insert_many            {seed_s:>10.1f} s")
    for label in sizes:
        print(f"walk all pages ({label:5})       {walk[label]:>10.2f} s")
    echo_med, echo_p99 = _us(samples["echo"])
    print(f"{'':30} {'median us':>10} {'p99 us':>10}")
    print(f"{'bare echo RPC':30} {echo_med:>10.0f} {echo_p99:>10.0f}")
    for op in ("GetMembership", "JoinCommunity", "ListMembers first", "ListMembers deep"):
        big_med, big_p99 = _us(samples[f"{op} big"])
        small_med, small_p99 = _us(samples[f"{op} small"])
        print(f"{op + ' small':30} {small_med:>10.0f} {small_p99:>10.0f}")
        print(f"{op + ' big':30} {big_med:>10.0f} {big_p99:>10.0f}")
        print(
            f"{op + ' big/small':30} {big_med / small_med:>10.2f}x {big_p99 / small_p99:>9.2f}x"
            f"   (/echo median {big_med / echo_med:.1f}x)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mongo-uri", default="", help="use this MongoDB/FerretDB instead of starting one")
    args = parser.parse_args()
    if args.mongo_uri:
        asyncio.run(_run(args, args.mongo_uri))
        return
    with tempfile.TemporaryDirectory(prefix="guild-bench-") as tmp:
        ferret = FerretServer(data_dir=Path(tmp) / "ferretdb", log_dir=Path(tmp) / "logs")
        ferret.start()
        try:
            asyncio.run(_run(args, ferret.uri))
        finally:
            ferret.stop()


if __name__ == "__main__":
    main()
