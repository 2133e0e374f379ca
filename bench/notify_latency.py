"""From a source RPC to the inbox and the live stream, and a broadcast to a large community.

Run: .venv/bin/python bench/notify_latency.py --samples 200 --members 100000
Starts its own FerretDB and NATS and runs community, content and notify as separate processes (as the
integration suite does), then:
- latency: per sample, one of the askers (in turn) asks a question (untimed) and bob answers it with
  AnswerQuestion; measured from just before the RPC to (1) its arrival on the asker's open
  StreamNotifications, with nothing polling, then, on new samples, (2) its appearance in the asker's
  inbox, polling ListNotifications every 5 ms. The path is content's outbox -> NATS JetStream ->
  notify's consumer -> inbox (-> stream).
- broadcast: notify's membership read model is seeded directly with N members of one community (what
  N member_joined events would leave there); a leader's CreateBroadcast is timed to its visibility in
  a random member's inbox, the documents written are counted over every notify collection, and the
  ListNotifications latency of random members with the broadcast merged in is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import structlog
from pymongo import AsyncMongoClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.harness import SuiteProcesses

from guild.community.v1 import community_service_pb2 as community_api
from guild.community.v1 import community_service_pb2_grpc as community_grpc
from guild.content.v1 import content_service_pb2 as content_api
from guild.content.v1 import content_service_pb2_grpc as content_grpc
from guild.notify.v1 import notification_pb2 as pb
from guild.notify.v1 import notify_service_pb2 as notify_api
from guild.notify.v1 import notify_service_pb2_grpc as notify_grpc
from guild_testing.fixtures import auth
from guild_testing.servers import FerretServer, NatsServer

POLL = 0.005


def _ms(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    return (
        statistics.median(ordered) * 1e3,
        ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e3,
        ordered[-1] * 1e3,
    )


async def _first_page(stub: notify_grpc.NotifyServiceStub, who: str) -> list[pb.Notification]:
    response = await stub.ListNotifications(
        notify_api.ListNotificationsRequest(page_size=5), metadata=auth(who)
    )
    return list(response.notifications)


async def _latency(suite: SuiteProcesses, samples: int, askers: int) -> None:
    community = community_grpc.CommunityServiceStub(suite.channel("community"))
    content = content_grpc.ContentServiceStub(suite.channel("content"))
    notify = notify_grpc.NotifyServiceStub(suite.channel("notify"))
    created = await community.CreateCommunity(
        community_api.CreateCommunityRequest(name="Bench", slug="bench", programme="sales", region="emea"),
        metadata=auth("olivia"),
    )
    community_id = created.community.id
    people = [f"asker{i:02d}" for i in range(askers)]
    for person in [*people, "bob"]:
        await community.JoinCommunity(
            community_api.JoinCommunityRequest(community_id=community_id), metadata=auth(person)
        )

    arrivals: dict[str, float] = {}
    arrived = asyncio.Event()
    streams = [
        notify.StreamNotifications(notify_api.StreamNotificationsRequest(), metadata=auth(p)) for p in people
    ]

    async def listen(stream: grpc.aio.UnaryStreamCall[Any, Any]) -> None:
        async for response in stream:
            arrivals.setdefault(response.notification.subject_id, time.perf_counter())
            arrived.set()

    listeners = [asyncio.create_task(listen(s)) for s in streams]
    await asyncio.sleep(1.0)  # every stream is open and positioned

    async def answered(i: int) -> tuple[str, str, float]:
        """A new question by the i-th sample's asker (untimed), answered by bob: (asker, id, RPC start)."""
        asker = people[i % askers]
        question = await content.AskQuestion(
            content_api.AskQuestionRequest(community_id=community_id, title=f"Bench question {i}"),
            metadata=auth(asker),
        )
        question_id = question.question.id
        t0 = time.perf_counter()
        await content.AnswerQuestion(
            content_api.AnswerQuestionRequest(question_id=question_id, body="An answer."),
            metadata=auth("bob"),
        )
        return asker, question_id, t0

    # Phase 1: the stream alone, nothing polling.
    stream_s: list[float] = []
    for i in range(samples + 10):
        _, question_id, t0 = await answered(i)
        while question_id not in arrivals:
            arrived.clear()
            await asyncio.wait_for(arrived.wait(), timeout=10)
        if i >= 10:  # the first ten warm the path
            stream_s.append(arrivals[question_id] - t0)
    print(f"askers {askers}, each with an open StreamNotifications; answers by one member; {samples} samples")
    _report("StreamNotifications, nothing polling", stream_s)

    # Phase 2: polling the asker's first page every 5 ms.
    inbox_s: list[float] = []
    for i in range(samples):
        asker, question_id, t0 = await answered(samples + 10 + i)
        deadline = t0 + 10
        while not any(n.subject_id == question_id for n in await _first_page(notify, asker)):
            if time.perf_counter() > deadline:
                raise AssertionError(f"no notification for {question_id} within 10 s")
            await asyncio.sleep(POLL)
        inbox_s.append(time.perf_counter() - t0)
    for stream in streams:
        stream.cancel()
    for listener in listeners:
        listener.cancel()
    _report("inbox, ListNotifications every 5 ms", inbox_s)


def _report(name: str, values: list[float]) -> None:
    p50, p99, worst = _ms(values)
    print(
        f"AnswerQuestion -> {name:<37} p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  max {worst:7.1f} ms", flush=True
    )


async def _counts(db: object) -> dict[str, int]:
    names = await db.list_collection_names()  # type: ignore[attr-defined]
    return {n: await db[n].count_documents({}) for n in sorted(names)}  # type: ignore[index]


async def _broadcast(suite: SuiteProcesses, members: int, readers: int) -> None:
    notify = notify_grpc.NotifyServiceStub(suite.channel("notify"))
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(suite.mongo_uri, tz_aware=True)
    db = client[suite.database("notify")]
    community_id = "big-community"
    joined = datetime.now(UTC) - timedelta(days=1)
    ids = [f"m{i:06d}" for i in range(members)]
    started = time.perf_counter()
    batch = 5_000
    for i in range(0, members, batch):
        chunk = ids[i : i + batch]
        await db["memberships"].insert_many(
            [
                {
                    "_id": f"{community_id}:{m}",
                    "community_id": community_id,
                    "member_id": m,
                    "role": "owner" if m == ids[0] else "member",
                    "join_time": joined,
                }
                for m in chunk
            ],
            ordered=False,
        )
        await db["member_communities"].insert_many(
            [{"_id": m, "communities": [{"community_id": community_id, "join_time": joined}]} for m in chunk],
            ordered=False,
        )
    seed_s = time.perf_counter() - started

    rng = random.Random(7)
    probe = rng.choice(ids[1:])
    before = await _counts(db)
    t0 = time.perf_counter()
    sent = await notify.CreateBroadcast(
        notify_api.CreateBroadcastRequest(
            broadcast=pb.Broadcast(community_id=community_id, text="New onboarding material is up")
        ),
        metadata=auth(ids[0]),
    )
    rpc_s = time.perf_counter() - t0
    wanted = f"broadcast:{sent.broadcast.id}"
    while not any(n.id == wanted for n in await _first_page(notify, probe)):
        if time.perf_counter() > t0 + 30:
            raise AssertionError("the broadcast did not appear within 30 s")
        await asyncio.sleep(POLL)
    visible_s = time.perf_counter() - t0
    after = await _counts(db)
    written = {n: after[n] - before.get(n, 0) for n in after if after[n] != before.get(n, 0)}

    reads: list[float] = []
    for member in rng.sample(ids[1:], readers):
        t1 = time.perf_counter()
        page = await _first_page(notify, member)
        reads.append(time.perf_counter() - t1)
        assert page, member
        assert page[0].id == wanted, member
    await client.close()
    p50, p99, _ = _ms(reads)
    print(f"community members (seeded read model)  {members:,} in {seed_s:.1f} s")
    print(f"CreateBroadcast RPC                     {rpc_s * 1e3:7.1f} ms")
    print(f"broadcast visible in {probe}'s inbox   {visible_s * 1e3:7.1f} ms after the RPC started")
    print(f"documents written by the broadcast      {sum(written.values())} {written}")
    print(f"ListNotifications with it merged, {readers} random members: p50 {p50:.1f} ms  p99 {p99:.1f} ms")


async def _run(args: argparse.Namespace, mongo_uri: str, nats_url: str, work: Path) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    suite = SuiteProcesses(
        mongo_uri=mongo_uri, nats_url=nats_url, work_dir=work, services=("community", "content", "notify")
    )
    await suite.start_all()
    try:
        await _latency(suite, args.samples, args.askers)
        await _broadcast(suite, args.members, args.readers)
    finally:
        await suite.stop_all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--askers", type=int, default=20)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--readers", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="guild-bench-") as tmp:
        work = Path(tmp)
        ferret = FerretServer(data_dir=work / "ferretdb", log_dir=work / "logs")
        nats_server = NatsServer(data_dir=work / "nats", log_dir=work / "logs")
        ferret.start()
        nats_server.start()
        try:
            asyncio.run(_run(args, ferret.uri, nats_server.url, work))
        finally:
            nats_server.stop()
            ferret.stop()


if __name__ == "__main__":
    main()
