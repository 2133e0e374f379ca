"""Catch-up after a NATS outage: how long after NATS returns every event written meanwhile is consumed.

Run: .venv/bin/python bench/nats_outage.py [--outage 30] [--rate 10] [--warmup 10] [--runs 1]
Starts its own FerretDB and NATS (file storage, so streams survive a restart) and runs all four services
in this process through their composition roots (real gRPC servers, outbox relays and consumers; the
default settings a deployment starts from). Members join a community; then a steady load of writes goes
through gRPC: questions asked, answers posted, answers voted on, at ``--rate`` writes a second. After
``--warmup`` seconds NATS is stopped for ``--outage`` seconds while the load goes on (the writes must
still succeed: their events wait in the services' outboxes), then started again on the same port and
data, and the load stops. Measured from the restart:
- until every outbox is empty (each service's relay has published what it held);
- until every durable consumer of every stream has been delivered its stream's last message and has
  nothing pending or unacknowledged (community, content, reputation and notify have all consumed it);
and, as checks: every write made during the outage succeeded, nothing was dead-lettered, and the
reputation ledger's entry count is printed (a consumer acknowledges a message only after its write).
Prints one row per run; the issue's target is catch-up within 10 s after a 30 s outage.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import nats
import structlog
from pymongo import AsyncMongoClient

from guild.community.v1 import community_pb2 as cpb
from guild.community.v1 import community_service_pb2 as community_api
from guild.community.v1 import community_service_pb2_grpc as community_grpc
from guild.content.v1 import content_service_pb2 as api
from guild.content.v1 import content_service_pb2_grpc as api_grpc
from guild.content.v1 import question_pb2 as pb
from guild_common.events.consumer import DEAD_LETTERS
from guild_common.events.outbox import PENDING
from guild_community import bootstrap as community_bootstrap
from guild_community.adapters.communities_store import SCHEMA as COMMUNITY_SCHEMA
from guild_community.adapters.goals_store import SCHEMA as GOAL_SCHEMA
from guild_community.adapters.membership_store import SCHEMA as MEMBERSHIP_SCHEMA
from guild_community.adapters.people_store import SCHEMA as PEOPLE_SCHEMA
from guild_community.adapters.surveys_store import SCHEMA as SURVEY_SCHEMA
from guild_community.config import CommunitySettings
from guild_content import bootstrap as content_bootstrap
from guild_content.adapters.curation_store import OUTBOX_COLLECTIONS as CURATION_OUTBOX
from guild_content.adapters.feed_store import OUTBOX_COLLECTIONS as FEED_OUTBOX
from guild_content.adapters.question_store import OUTBOX_COLLECTIONS as CONTENT_OUTBOX
from guild_content.config import ContentSettings
from guild_notify import bootstrap as notify_bootstrap
from guild_notify.config import NotifySettings
from guild_reputation import bootstrap as reputation_bootstrap
from guild_reputation.adapters.badges_store import OUTBOX_COLLECTIONS as BADGE_OUTBOX
from guild_reputation.adapters.ledger_store import OUTBOX_COLLECTIONS as LEDGER_OUTBOX
from guild_reputation.adapters.recognition_store import OUTBOX_COLLECTIONS as SUMMARY_OUTBOX
from guild_reputation.config import ReputationSettings
from guild_testing.bench import progress
from guild_testing.fixtures import auth
from guild_testing.inprocess import RunningService, running_service
from guild_testing.servers import FerretServer, NatsServer

OWNER = "outage-owner"
PEOPLE = [f"person-{i:02d}" for i in range(24)]
OUTBOXES: dict[str, list[str]] = {
    "community": [
        *COMMUNITY_SCHEMA.outbox_collections,
        *MEMBERSHIP_SCHEMA.outbox_collections,
        *PEOPLE_SCHEMA.outbox_collections,
        *SURVEY_SCHEMA.outbox_collections,
        *GOAL_SCHEMA.outbox_collections,
    ],
    "content": [*CONTENT_OUTBOX, *CURATION_OUTBOX, *FEED_OUTBOX],
    "reputation": [*LEDGER_OUTBOX, *BADGE_OUTBOX, *SUMMARY_OUTBOX],
    "notify": [],
}


class Load:
    """Writes at a steady rate: questions, answers to open questions, upvotes on answers."""

    def __init__(
        self, content: api_grpc.ContentServiceStub, community_id: str, rate: float, seed: int
    ) -> None:
        self._content = content
        self._cid = community_id
        self._interval = 1.0 / rate
        self._rng = random.Random(seed)
        self.questions: list[tuple[str, str]] = []  # (id, asker)
        self.answers: list[tuple[str, str]] = []  # (id, author)
        self.ok = 0
        self.failed = 0
        self._stop = asyncio.Event()

    async def write(self) -> None:
        rng = self._rng
        roll = rng.random()
        person = rng.choice(PEOPLE)
        if roll < 0.35 or not self.questions:
            asked = await self._content.AskQuestion(
                api.AskQuestionRequest(
                    community_id=self._cid, title=f"How do I file expense report {rng.randrange(10**9)}?"
                ),
                metadata=auth(person),
            )
            self.questions.append((asked.question.id, person))
        elif roll < 0.7 or not self.answers:
            question_id, asker = rng.choice(self.questions[-50:])
            author = rng.choice([p for p in PEOPLE if p != asker])
            answered = await self._content.AnswerQuestion(
                api.AnswerQuestionRequest(
                    question_id=question_id, body=f"Use the portal, step {rng.randrange(99)}"
                ),
                metadata=auth(author),
            )
            self.answers.append((answered.answer.id, author))
        else:
            answer_id, author = rng.choice(self.answers[-80:])
            voter = rng.choice([p for p in PEOPLE if p != author])
            await self._content.CastVote(
                api.CastVoteRequest(target_id=answer_id, direction=pb.VOTE_DIRECTION_UP), metadata=auth(voter)
            )

    async def run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                await self.write()
                self.ok += 1
            except Exception:
                self.failed += 1
            next_at += self._interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), max(0.0, next_at - time.monotonic()))

    def stop(self) -> None:
        self._stop.set()


async def _pending_outbox(mongo: AsyncMongoClient[dict[str, Any]], databases: dict[str, str]) -> int:
    total = 0
    for service, collections in OUTBOXES.items():
        db = mongo[databases[service]]
        for name in collections:
            total += await db[name].count_documents({PENDING: True})
    return total


async def _consumers_behind(nats_url: str) -> int:
    """Durable consumers not yet at their stream's end, or holding unacknowledged messages."""
    nc = await nats.connect(nats_url, max_reconnect_attempts=0, connect_timeout=1)
    try:
        js = nc.jetstream()
        behind = 0
        for stream in await js.streams_info():
            last = stream.state.last_seq
            for consumer in await js.consumers_info(str(stream.config.name)):
                delivered = consumer.delivered.stream_seq if consumer.delivered else 0
                if consumer.num_pending or consumer.num_ack_pending or (delivered or 0) < last:
                    behind += 1
        return behind
    finally:
        await nc.close()


async def _until(check: Callable[[], Any], started: float, timeout: float = 300.0) -> float:
    while time.monotonic() - started < timeout:
        with contextlib.suppress(Exception):
            if await check():
                return time.monotonic() - started
        await asyncio.sleep(0.1)
    raise TimeoutError("did not catch up")


@contextlib.asynccontextmanager
async def _suite(uri: str, nats_url: str, run: int) -> AsyncIterator[dict[str, RunningService]]:
    common: dict[str, Any] = {
        "mongo_uri": uri,
        "nats_url": nats_url,
        "grpc_host": "127.0.0.1",
        "grpc_port": 0,
    }
    names = {svc: f"guild_{svc}_outage{run}" for svc in OUTBOXES}
    async with contextlib.AsyncExitStack() as stack:
        community = await stack.enter_async_context(
            running_service(
                CommunitySettings.model_validate({**common, "mongo_db": names["community"]}),
                community_bootstrap.build,
            )
        )
        linked = {**common, "community_addr": community.address}
        content = await stack.enter_async_context(
            running_service(
                ContentSettings.model_validate({**linked, "mongo_db": names["content"]}),
                content_bootstrap.build,
            )
        )
        reputation = await stack.enter_async_context(
            running_service(
                ReputationSettings.model_validate({**linked, "mongo_db": names["reputation"]}),
                reputation_bootstrap.build,
            )
        )
        notify = await stack.enter_async_context(
            running_service(
                NotifySettings.model_validate({**linked, "mongo_db": names["notify"]}), notify_bootstrap.build
            )
        )
        yield {"community": community, "content": content, "reputation": reputation, "notify": notify}


async def _one_run(args: argparse.Namespace, run: int, uri: str, nats_server: NatsServer) -> dict[str, float]:
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    databases = {svc: f"guild_{svc}_outage{run}" for svc in OUTBOXES}
    async with _suite(uri, nats_server.url, run) as suite:
        community = community_grpc.CommunityServiceStub(suite["community"].channel)
        content = api_grpc.ContentServiceStub(suite["content"].channel)
        created = await community.CreateCommunity(
            community_api.CreateCommunityRequest(
                name="Outage",
                slug=f"outage-{run}",
                programme="sales",
                region="emea",
                visibility=cpb.VISIBILITY_OPEN,
            ),
            metadata=auth(OWNER),
        )
        cid = created.community.id
        for person in PEOPLE:
            await community.JoinCommunity(
                community_api.JoinCommunityRequest(community_id=cid), metadata=auth(person)
            )
        load = Load(content, cid, args.rate, seed=run)

        async def members_known() -> bool:
            await load.write()
            return True

        await _until(members_known, time.monotonic(), timeout=60)
        runner = asyncio.create_task(load.run())
        await asyncio.sleep(args.warmup)
        before_ok = load.ok
        nats_server.stop()
        progress(f"run {run + 1}: NATS stopped for {args.outage:.0f} s under load")
        await asyncio.sleep(args.outage)
        during_ok, during_failed = load.ok - before_ok, load.failed
        nats_server.start()
        restarted = time.monotonic()
        load.stop()
        await runner
        outbox_s = await _until(lambda: _zero(_pending_outbox(mongo, databases)), restarted)
        consumers_s = await _until(lambda: _zero(_consumers_behind(nats_server.url)), restarted)
        rep = mongo[databases["reputation"]]
        dead = sum([await mongo[db][DEAD_LETTERS].count_documents({}) for db in databases.values()])
        entries = await rep["ledger"].count_documents({})
        progress(
            f"run {run + 1}: outboxes empty after {outbox_s:.1f} s, every consumer at the end after "
            f"{consumers_s:.1f} s; {during_ok} writes succeeded during the outage ({during_failed} failed); "
            f"{entries} ledger entries, {dead} dead letters"
        )
    await mongo.close()
    return {
        "outbox": outbox_s,
        "consumers": consumers_s,
        "writes_during": during_ok,
        "failed": during_failed,
        "dead": dead,
        "total_writes": load.ok,
    }


async def _zero(value: Any) -> bool:
    return int(await value) == 0


async def _run(args: argparse.Namespace, uri: str, nats_server: NatsServer) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    results = [await _one_run(args, run, uri, nats_server) for run in range(args.runs)]
    print(f"\nNATS outage of {args.outage:.0f} s under {args.rate:.0f} writes/s, all four services\n")
    print(
        "| run | writes during outage (failed) | outboxes empty after | every consumer caught up after "
        "| dead letters |"
    )
    print("|---:|---:|---:|---:|---:|")
    for n, r in enumerate(results, 1):
        print(
            f"| {n} | {r['writes_during']:.0f} ({r['failed']:.0f}) | {r['outbox']:.1f} s "
            f"| {r['consumers']:.1f} s | {r['dead']:.0f} |"
        )
    if len(results) > 1:
        print(f"\nmedian catch-up: {statistics.median(r['consumers'] for r in results):.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outage", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=10.0, help="writes per second")
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="guild-bench-") as tmp:
        ferret = FerretServer(data_dir=Path(tmp) / "ferretdb", log_dir=Path(tmp) / "logs")
        nats_server = NatsServer(data_dir=Path(tmp) / "nats", log_dir=Path(tmp) / "logs")
        try:
            ferret.start()
            nats_server.start()
            asyncio.run(_run(args, ferret.uri, nats_server))
        finally:
            nats_server.stop()
            ferret.stop()


if __name__ == "__main__":
    main()
