"""GetStanding with one board of N members: in process, over gRPC, and against a bare echo RPC.

Run: .venv/bin/python bench/reputation_standing.py --members 1000000
Starts its own FerretDB (or uses --mongo-uri), stores N all-time totals for one community, then:
- rebuild: loads the stored totals into the in-memory boards, as a starting replica without a boards
  snapshot does;
- snapshot: writes a boards snapshot with the service's snapshot code (``BoardSnapshotter`` over
  ``MongoBoardSnapshots``, the service's chunk size), then starts another replica's boards from it with
  ``restore_boards`` (the snapshot's chunks and the totals journaled since), as a replica starts when a
  snapshot exists, and checks they equal the rebuilt ones;
- memory per member of the board (tracemalloc over a rebuild from memory; member id strings counted);
- GetStanding in process (rank, percentile and neighbours) and over gRPC through the service's real
  server (auth interceptor, logging, error mapping) on localhost, against a bare gRPC echo service
  (no interceptors) in the same process and run: medians, p99 and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path

import grpc
import structlog
from pymongo import AsyncMongoClient

from guild.reputation.v1 import reputation_service_pb2 as api
from guild.reputation.v1 import reputation_service_pb2_grpc as api_grpc
from guild_common.grpc.channels import service_channel
from guild_common.grpc.server import ServiceServer
from guild_reputation.adapters.badges_store import MongoBadges
from guild_reputation.adapters.board_snapshots_store import (
    BOARD_SNAPSHOT_CHUNKS,
    BOARD_SNAPSHOTS,
    MongoBoardSnapshots,
)
from guild_reputation.adapters.community_client import ReadThroughRoles
from guild_reputation.adapters.custom_badges_store import MongoBadgeDefinitions
from guild_reputation.adapters.insights_store import MongoInsights
from guild_reputation.adapters.ledger_documents import TOTALS, total_id
from guild_reputation.adapters.ledger_store import MongoLedger
from guild_reputation.adapters.points_rules_store import MongoPointsRules
from guild_reputation.adapters.recognition_store import MongoRecognition
from guild_reputation.adapters.roles_store import RoleReadModel
from guild_reputation.adapters.standing_store import TOTALS_JOURNAL
from guild_reputation.adapters.visibility_store import VisibilityReadModel
from guild_reputation.app.access import CommunityReaders
from guild_reputation.app.badges import BadgeUseCases
from guild_reputation.app.boards import BoardSnapshotter, LiveBoards, rebuild_boards, restore_boards
from guild_reputation.app.custom_badges import BadgeDefinitionUseCases
from guild_reputation.app.insights import InsightsQueries
from guild_reputation.app.leaderboards import LeaderboardQueries, TagQueries
from guild_reputation.app.points_rules import PointsRulesUseCases
from guild_reputation.app.ports import Total
from guild_reputation.app.recognition import RecognitionUseCases
from guild_reputation.app.visibility import Visibility
from guild_reputation.config import ReputationSettings
from guild_reputation.domain.credentials import Issuer
from guild_reputation.domain.insights import Weeks
from guild_reputation.domain.leaderboard import Leaderboard, Leaderboards
from guild_reputation.domain.periods import ALL_TIME, Calendar
from guild_reputation.domain.rules import PointsTable
from guild_reputation.entrypoints.grpc.reputation_service import ReputationServicer
from guild_testing.bench import bare_echo_server
from guild_testing.fixtures import token_for
from guild_testing.servers import FerretServer

COMMUNITY = "bench-community"
ECHO = "/guild.bench.v1.EchoService/Echo"


def _us(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1e6, ordered[int(len(ordered) * 0.99)] * 1e6


async def _store_totals(uri: str, db_name: str, members: list[str], points: list[int]) -> float:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(uri)
    for name in (TOTALS, TOTALS_JOURNAL, BOARD_SNAPSHOTS, BOARD_SNAPSHOT_CHUNKS):
        await client[db_name][name].drop()
    totals = client[db_name][TOTALS]
    started = time.perf_counter()
    batch = 10_000
    for i in range(0, len(members), batch):
        await totals.insert_many(
            [
                {
                    "_id": total_id(COMMUNITY, ALL_TIME, m),
                    "community_id": COMMUNITY,
                    "period": ALL_TIME,
                    "member_id": m,
                    "points": p,
                    "entries": 1,
                }
                for m, p in zip(members[i : i + batch], points[i : i + batch], strict=True)
            ],
            ordered=False,
        )
    await client.close()
    return time.perf_counter() - started


async def _run(args: argparse.Namespace, uri: str) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    rng = random.Random(args.seed)
    members = [f"member-{i:07d}" for i in range(args.members)]
    points = [rng.randrange(0, 50_000) for _ in members]
    settings = ReputationSettings(
        mongo_uri=uri,
        mongo_db="guild_reputation_bench",
        grpc_host="127.0.0.1",
        grpc_port=0,
        rate_limit_per_second=0,  # one caller drives the load
    )
    insert_s = await _store_totals(uri, settings.database_name, members, points)

    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(uri)
    db = client[settings.database_name]
    ledger = MongoLedger(db, on_events=lambda *_: None)
    live = LiveBoards(Leaderboards(), Calendar("UTC"))
    started = time.perf_counter()
    loaded = await rebuild_boards(ledger, live)
    rebuild_s = time.perf_counter() - started

    # A snapshot of those boards by the service's snapshotter, and another replica started from it.
    snapshots = MongoBoardSnapshots(db)
    snapshotter = BoardSnapshotter(
        live,
        snapshots,
        ledger,
        interval=timedelta(minutes=settings.leaderboard_snapshot_minutes),
        margin=timedelta(seconds=settings.leaderboard_snapshot_margin_seconds),
        chunk=settings.leaderboard_snapshot_chunk,
    )
    started = time.perf_counter()
    head = await snapshotter.write()
    snapshot_write_s = time.perf_counter() - started
    restored_live = LiveBoards(Leaderboards(), Calendar("UTC"))
    started = time.perf_counter()
    restored = await restore_boards(
        ledger,
        snapshots,
        restored_live,
        margin=timedelta(seconds=settings.leaderboard_snapshot_margin_seconds),
    )
    restore_s = time.perf_counter() - started
    built, from_snapshot = (
        live.boards.find(COMMUNITY, ALL_TIME),
        restored_live.boards.find(COMMUNITY, ALL_TIME),
    )
    if restored.snapshot_id != head.snapshot_id or from_snapshot is None or built is None:
        raise AssertionError("the replica did not start from the snapshot just written")
    if from_snapshot.items() != built.items():
        raise AssertionError("the board started from the snapshot differs from the rebuilt one")
    chunks = -(-head.members // settings.leaderboard_snapshot_chunk)
    del restored_live, from_snapshot, built

    # The in-memory part of the rebuild alone: one bulk load of every (member, points).
    items = list(zip(members, points, strict=True))
    started = time.perf_counter()
    Leaderboard().load(items)
    load_s = time.perf_counter() - started
    del items

    # Memory: the same board rebuilt from memory under tracemalloc, member id strings included.
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    probe = LiveBoards(Leaderboards(), Calendar("UTC"))
    probe.apply(_totals_from(members, points))
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del probe

    board = live.boards.board(COMMUNITY)
    lookups = [rng.choice(members) for _ in range(args.lookups)]
    inproc = []
    for member in lookups:
        t0 = time.perf_counter()
        standing = board.standing(member)
        if standing is not None:
            board.neighbours(standing)
        inproc.append(time.perf_counter() - t0)

    roles_channel = service_channel("127.0.0.1:1")
    roles = ReadThroughRoles(RoleReadModel(db), roles_channel)
    badges = MongoBadges(db, on_events=lambda *_: None)
    weeks = Weeks(settings.leaderboard_timezone)
    insights = MongoInsights(db, weeks)
    visibility = Visibility(VisibilityReadModel(db), insights, roles)
    readers = CommunityReaders(visibility, roles)
    # Wired as the service's composition root (bootstrap.build) wires it.
    servicer = ReputationServicer(
        LeaderboardQueries(live, visibility),
        PointsRulesUseCases(MongoPointsRules(db), roles, PointsTable(), visibility),
        BadgeUseCases(badges, roles, visibility),
        InsightsQueries(insights, weeks, readers, visibility),
        RecognitionUseCases(MongoRecognition(db, on_events=lambda *_: None), roles, visibility),
        TagQueries(ledger, readers),
        BadgeDefinitionUseCases(
            MongoBadgeDefinitions(db),
            badges,
            roles,
            Issuer(settings.badge_issuer_url, settings.badge_issuer_name),
            readers,
            visibility,
        ),
    )

    async def healthy() -> bool:
        return True

    def register(server: grpc.aio.Server) -> list[str]:
        api_grpc.add_ReputationServiceServicer_to_server(servicer, server)
        return ["guild.reputation.v1.ReputationService"]

    service = ServiceServer(settings, register=register, workers=[], healthy=healthy)
    await service.start()
    echo_server, echo_port = bare_echo_server()
    await echo_server.start()
    metadata = [("authorization", f"Bearer {token_for('bench')}")]
    rpc_samples: list[float] = []
    echo_samples: list[float] = []
    async with (
        grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel,
        grpc.aio.insecure_channel(f"127.0.0.1:{echo_port}") as echo_channel,
    ):
        stub = api_grpc.ReputationServiceStub(channel)
        echo = echo_channel.unary_unary(ECHO)
        payload = api.GetStandingRequest(community_id=COMMUNITY, member_id=members[0]).SerializeToString()
        for _ in range(500):  # warm both paths
            await stub.GetStanding(
                api.GetStandingRequest(community_id=COMMUNITY, member_id=members[0]), metadata=metadata
            )
            await echo(payload, metadata=metadata)
        # Interleaved, so both see the same machine load.
        for member in lookups[: args.rpcs]:
            request = api.GetStandingRequest(community_id=COMMUNITY, member_id=member)
            t0 = time.perf_counter()
            response = await stub.GetStanding(request, metadata=metadata)
            rpc_samples.append(time.perf_counter() - t0)
            assert response.standing.rank > 0
            t0 = time.perf_counter()
            await echo(request.SerializeToString(), metadata=metadata)
            echo_samples.append(time.perf_counter() - t0)
    await service.stop()
    await echo_server.stop(None)
    await roles_channel.close()
    await client.close()

    in_med, in_p99 = _us(inproc)
    rpc_med, rpc_p99 = _us(rpc_samples)
    echo_med, echo_p99 = _us(echo_samples)
    print(f"members in the board           {args.members:>12,}")
    print(f"store totals (insert_many)     {insert_s:>12.1f} s")
    rate = loaded / rebuild_s
    print(f"rebuild from stored totals     {rebuild_s:>12.1f} s ({loaded:,} totals, {rate:,.0f}/s)")
    print(f"bulk load alone, in memory     {load_s:>12.1f} s (the rest of the rebuild is reading)")
    pairs = f"{head.members:,} pairs, {chunks} chunks"
    print(f"boards snapshot write          {snapshot_write_s:>12.1f} s ({pairs})")
    rate = restored.from_snapshot / restore_s
    read = f"{restored.from_snapshot:,} pairs, {rate:,.0f}/s; {restored.from_totals:,} journaled totals since"
    print(f"start from the snapshot        {restore_s:>12.1f} s ({read})")
    print(f"memory per member              {(after - before) / args.members:>12.0f} B (board, ids included)")
    print(f"standing in process  median    {in_med:>12.1f} us   p99 {in_p99:8.1f} us")
    print(f"GetStanding RPC      median    {rpc_med:>12.1f} us   p99 {rpc_p99:8.1f} us")
    print(f"bare echo RPC        median    {echo_med:>12.1f} us   p99 {echo_p99:8.1f} us")
    print(f"GetStanding / echo   median    {rpc_med / echo_med:>12.2f} x    (+{rpc_med - echo_med:.1f} us)")


def _totals_from(members: list[str], points: list[int]) -> list[Total]:
    from guild_reputation.app.ports import Total

    # Fresh string copies, so the ids are counted as a rebuilt board would hold them.
    return [Total(COMMUNITY, "".join(m), p) for m, p in zip(members, points, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=20_000)
    parser.add_argument("--rpcs", type=int, default=5_000)
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
