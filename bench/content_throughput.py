"""Content at N posts: the community feed, keyword search and voting, against a bare gRPC echo baseline.

Run: .venv/bin/python bench/content_throughput.py --posts 2000
Starts its own FerretDB and NATS (or uses --mongo-uri and --nats-url) and runs the community and content
services in this process through their composition roots (``bootstrap.build``: real gRPC servers with
the auth interceptor, logging and error mapping, content's outbox relay publishing to JetStream and its
community-event consumer), then:
- creates an open community over gRPC, and members join it (authors, answerers, voters);
- seeds it with N questions by AskQuestion RPCs, ``--seed-concurrency`` in flight: titles and bodies
  drawn from a small vocabulary (so each term is shared by many posts) and 1 to 3 of 12 tags each,
  so the service computes the terms, tags and feed fields itself; content's outbox relay then gets
  ``--drain-timeout`` seconds to publish the seed's events, and what it has not published by then is
  cleared from the outbox (nothing consumes it here), so a backlog does not compete with the timings;
- one question gets ``--answers`` answers, the vote targets;
- latency, interleaved round by round so every call sees the same machine load: ListCommunityFeed
  (newest, first page of 20), SearchQuestions (a random two-term query in the community, first page
  of 20), CastVote (one voter flips their vote on one answer: a real change each time) and a bare gRPC
  echo (no interceptors) on its own server in the same process: median, p99, ratio of medians;
- throughput: ``--voters`` voters at once, each casting ``--votes-per-voter`` votes in turn on the
  answers (each vote flipping that voter's previous one): votes/s over the wall time, and the latency
  of the votes under that load;
- checks that nothing was lost: each answer's score (GetQuestion) equals the sum of the last vote each
  voter cast on it, and the sum of the stored votes.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import structlog
from pymongo import AsyncMongoClient

from guild.community.v1 import community_pb2 as cpb
from guild.community.v1 import community_service_pb2 as community_api
from guild.community.v1 import community_service_pb2_grpc as community_grpc
from guild.content.v1 import content_service_pb2 as api
from guild.content.v1 import content_service_pb2_grpc as api_grpc
from guild.content.v1 import question_pb2 as pb
from guild_community import bootstrap as community_bootstrap
from guild_community.config import CommunitySettings
from guild_content import bootstrap as content_bootstrap
from guild_content.adapters.question_store import OUTBOX_COLLECTIONS, VOTES
from guild_content.config import ContentSettings
from guild_testing.bench import bare_echo_server
from guild_testing.fixtures import auth
from guild_testing.inprocess import running_service
from guild_testing.servers import FerretServer, NatsServer

ECHO = "/guild.bench.v1.EchoService/Echo"
OWNER = "bench-owner"
ASKER = "bench-asker"
PAGE = 20
AUTHORS = 10
WORDS = [
    "expense",
    "travel",
    "policy",
    "client",
    "dinner",
    "receipt",
    "currency",
    "invoice",
    "approval",
    "budget",
    "laptop",
    "onboarding",
    "training",
    "course",
    "mentor",
    "review",
    "salary",
    "leave",
    "holiday",
    "pension",
    "contract",
    "supplier",
    "quote",
    "discount",
    "pipeline",
    "forecast",
    "territory",
    "account",
    "renewal",
    "pricing",
    "demo",
    "proposal",
    "compliance",
    "security",
    "password",
    "badge",
    "parking",
    "canteen",
    "office",
    "desk",
    "meeting",
    "calendar",
]
TAGS = [
    "expenses",
    "travel",
    "hr",
    "it",
    "sales",
    "finance",
    "onboarding",
    "training",
    "compliance",
    "facilities",
    "pricing",
    "security",
]


def _us(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1e6, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e6


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _sentence(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.sample(WORDS, rng.randint(low, high)))


class Votes:
    """Every voter's last vote per answer, as the clients cast them: the expected scores."""

    def __init__(self) -> None:
        self.last: dict[tuple[str, str], int] = {}

    def flip(self, voter: str, answer_id: str, rng: random.Random) -> int:
        """The direction that changes this voter's vote on the answer (up or down when there is none)."""
        previous = self.last.get((voter, answer_id), 0)
        return -previous if previous else rng.choice((1, -1))

    def score(self, answer_id: str) -> int:
        return sum(v for (_, a), v in self.last.items() if a == answer_id)


async def _cast(
    stub: api_grpc.ContentServiceStub, votes: Votes, voter: str, answer_id: str, rng: random.Random
) -> float:
    value = votes.flip(voter, answer_id, rng)
    direction = pb.VOTE_DIRECTION_UP if value > 0 else pb.VOTE_DIRECTION_DOWN
    t0 = time.perf_counter()
    await stub.CastVote(api.CastVoteRequest(target_id=answer_id, direction=direction), metadata=auth(voter))
    elapsed = time.perf_counter() - t0
    votes.last[(voter, answer_id)] = value
    return elapsed


async def _pending(db: Any) -> int:
    return sum([await db[name].count_documents({"outbox_pending": True}) for name in OUTBOX_COLLECTIONS])


async def _settle_outbox(db: Any, timeout: float) -> tuple[int, float, int]:
    """Give the relay ``timeout`` seconds to publish the seed's events, then drop what is left.

    Nothing consumes them here; dropping them keeps a relay backlog from competing with the
    measurements. Returns (pending at the start, seconds waited, pending dropped).
    """
    started = time.perf_counter()
    initial = pending = await _pending(db)
    while pending and time.perf_counter() - started < timeout:
        await asyncio.sleep(0.5)
        pending = await _pending(db)
    waited = time.perf_counter() - started
    if pending:
        for name in OUTBOX_COLLECTIONS:
            await db[name].update_many(
                {"outbox_pending": True}, {"$set": {"outbox": [], "outbox_pending": False}}
            )
    return initial, waited, pending


async def _run(args: argparse.Namespace, uri: str, nats_url: str) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    rng = random.Random(args.seed)
    common: dict[str, Any] = {
        "mongo_uri": uri,
        "nats_url": nats_url,
        "grpc_host": "127.0.0.1",
        "grpc_port": 0,
        "rate_limit_per_second": 0,  # one reader drives the load
        "log_level": "error",
    }
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    for name in ("guild_community_bench", "guild_content_bench"):
        await mongo.drop_database(name)
    community_settings = CommunitySettings.model_validate({**common, "mongo_db": "guild_community_bench"})
    async with running_service(community_settings, community_bootstrap.build) as community_service:
        content_settings = ContentSettings.model_validate(
            {**common, "mongo_db": "guild_content_bench", "community_addr": community_service.address}
        )
        async with running_service(content_settings, content_bootstrap.build) as content_service:
            community = community_grpc.CommunityServiceStub(community_service.channel)
            content = api_grpc.ContentServiceStub(content_service.channel)
            db = mongo["guild_content_bench"]
            await _measure(args, rng, community, content, db)
    await mongo.close()


async def _measure(
    args: argparse.Namespace,
    rng: random.Random,
    community: community_grpc.CommunityServiceStub,
    content: api_grpc.ContentServiceStub,
    db: Any,
) -> None:
    created: community_api.CreateCommunityResponse = await community.CreateCommunity(
        community_api.CreateCommunityRequest(
            name="Bench content",
            slug="bench-content",
            programme="sales",
            region="emea",
            visibility=cpb.VISIBILITY_OPEN,
        ),
        metadata=auth(OWNER),
    )
    cid = created.community.id
    authors = [f"author-{i:02d}" for i in range(AUTHORS)]
    answerers = [f"answerer-{i:02d}" for i in range(args.answers)]
    voters = [f"voter-{i:03d}" for i in range(args.voters)]
    for person in (ASKER, *authors, *answerers, *voters):
        await community.JoinCommunity(
            community_api.JoinCommunityRequest(community_id=cid), metadata=auth(person)
        )

    # Seed: N questions by RPC, a few in flight.
    queue = iter(range(args.posts))

    async def asker() -> None:
        for i in queue:
            tags = rng.sample(TAGS, rng.randint(1, 3))
            await content.AskQuestion(
                api.AskQuestionRequest(
                    community_id=cid,
                    title=f"{_sentence(rng, 3, 6)} question {i}",
                    body=_sentence(rng, 8, 16),
                    tags=tags,
                    request_id=f"seed-{i}",
                ),
                metadata=auth(authors[i % AUTHORS]),
            )

    started = time.perf_counter()
    await asyncio.gather(*(asker() for _ in range(args.seed_concurrency)))
    seed_s = time.perf_counter() - started
    _progress(f"seeded {args.posts} questions in {seed_s:.1f} s")
    backlog, drain_s, dropped = await _settle_outbox(db, args.drain_timeout)
    _progress(f"outbox: {backlog} pending after seeding, {dropped} left after {drain_s:.1f} s")

    # The vote targets: answers to one question, each by its own answerer.
    target: api.AskQuestionResponse = await content.AskQuestion(
        api.AskQuestionRequest(community_id=cid, title="Which laptop bag does the travel policy allow?"),
        metadata=auth(ASKER),
    )
    answer_ids = []
    for person in answerers:
        answered: api.AnswerQuestionResponse = await content.AnswerQuestion(
            api.AnswerQuestionRequest(
                question_id=target.question.id, body=f"{person}: {_sentence(rng, 5, 9)}"
            ),
            metadata=auth(person),
        )
        answer_ids.append(answered.answer.id)
    votes = Votes()
    reader = auth(ASKER)

    async def feed() -> api.ListCommunityFeedResponse:
        response: api.ListCommunityFeedResponse = await content.ListCommunityFeed(
            api.ListCommunityFeedRequest(community_id=cid, page_size=PAGE), metadata=reader
        )
        return response

    async def search() -> api.SearchQuestionsResponse:
        query = " ".join(rng.sample(WORDS, 2))
        response: api.SearchQuestionsResponse = await content.SearchQuestions(
            api.SearchQuestionsRequest(query=query, community_id=cid, page_size=PAGE), metadata=reader
        )
        return response

    samples: dict[str, list[float]] = {}
    hits: list[int] = []
    echo_server, echo_port = bare_echo_server()
    await echo_server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{echo_port}") as echo_channel:
        echo_call = echo_channel.unary_unary(ECHO)
        payload = api.ListCommunityFeedRequest(community_id=cid, page_size=PAGE).SerializeToString()

        async def echo() -> bytes:
            response: bytes = await echo_call(payload, metadata=reader)
            return response

        async def timed(name: str, call: Callable[[], Awaitable[Any]]) -> Any:
            t0 = time.perf_counter()
            result = await call()
            samples.setdefault(name, []).append(time.perf_counter() - t0)
            return result

        for i in range(args.warmup):  # warm every path
            await feed()
            await search()
            await _cast(content, votes, voters[i % len(voters)], answer_ids[i % len(answer_ids)], rng)
            await echo()
        _progress(f"warm; {args.rounds} rounds")
        for i in range(args.rounds):
            page: api.ListCommunityFeedResponse = await timed("ListCommunityFeed", feed)
            assert len(page.items) == PAGE
            found: api.SearchQuestionsResponse = await timed("SearchQuestions", search)
            hits.append(len(found.hits))
            voter, answer_id = voters[i % len(voters)], answer_ids[(i // len(voters)) % len(answer_ids)]
            samples.setdefault("CastVote", []).append(await _cast(content, votes, voter, answer_id, rng))
            await timed("echo", echo)

        # Throughput: every voter at once, each voting in turn on the answers.
        under_load: list[float] = []

        async def voter_run(voter: str, offset: int) -> None:
            own = random.Random(f"{args.seed}:{voter}")
            for n in range(args.votes_per_voter):
                answer_id = answer_ids[(offset + n) % len(answer_ids)]
                under_load.append(await _cast(content, votes, voter, answer_id, own))

        started = time.perf_counter()
        await asyncio.gather(*(voter_run(v, i) for i, v in enumerate(voters)))
        burst_s = time.perf_counter() - started
        _progress(f"{len(voters) * args.votes_per_voter} concurrent votes in {burst_s:.1f} s")
        # The echo under the same concurrency, for scale.
        echo_load: list[float] = []

        async def echo_run() -> None:
            for _ in range(args.votes_per_voter):
                t0 = time.perf_counter()
                await echo()
                echo_load.append(time.perf_counter() - t0)

        started = time.perf_counter()
        await asyncio.gather(*(echo_run() for _ in voters))
        echo_burst_s = time.perf_counter() - started
    await echo_server.stop(None)

    # Nothing lost: scores as served, as cast, and as stored agree.
    got: api.GetQuestionResponse = await content.GetQuestion(
        api.GetQuestionRequest(question_id=target.question.id), metadata=reader
    )
    served = {a.id: int(a.score) for a in got.answers}
    expected = {a: votes.score(a) for a in answer_ids}
    stored = {}
    for answer_id in answer_ids:
        rows = await (
            await db[VOTES].aggregate(
                [{"$match": {"target_id": answer_id}}, {"$group": {"_id": None, "s": {"$sum": "$value"}}}]
            )
        ).to_list()
        stored[answer_id] = int(rows[0]["s"]) if rows else 0
    consistent = served == expected == stored

    total_votes = len(voters) * args.votes_per_voter
    echo_med, echo_p99 = _us(samples["echo"])
    print(
        f"posts {args.posts:,} (seeded by AskQuestion, {args.seed_concurrency} in flight: "
        f"{seed_s:.1f} s, {args.posts / seed_s:,.0f}/s); relay backlog after seeding {backlog:,} posts, "
        f"{backlog - dropped:,} published in the next {drain_s:.1f} s, {dropped:,} dropped; "
        f"rounds {args.rounds}; search hits per page: median {statistics.median(hits):.0f}"
    )
    print()
    print("| call | median (µs) | p99 (µs) | median / echo |")
    print("|---|---:|---:|---:|")
    print(f"| bare echo | {echo_med:,.0f} | {echo_p99:,.0f} | 1.0 |")
    for name, label in (
        ("ListCommunityFeed", "ListCommunityFeed, newest, first page of 20"),
        ("SearchQuestions", "SearchQuestions, two terms, first page of 20"),
        ("CastVote", "CastVote, one at a time"),
    ):
        med, p99 = _us(samples[name])
        print(f"| {label} | {med:,.0f} | {p99:,.0f} | {med / echo_med:.1f} |")
    load_med, load_p99 = _us(under_load)
    echo_load_med, echo_load_p99 = _us(echo_load)
    print(
        f"| CastVote, {len(voters)} voters at once on {len(answer_ids)} answers | {load_med:,.0f} | "
        f"{load_p99:,.0f} | {load_med / echo_load_med:.1f} (echo at the same concurrency: "
        f"{echo_load_med:,.0f} / {echo_load_p99:,.0f}) |"
    )
    print()
    print(
        f"vote throughput: {total_votes:,} votes by {len(voters)} concurrent voters in {burst_s:.2f} s = "
        f"{total_votes / burst_s:,.0f} votes/s (echo at the same concurrency: "
        f"{total_votes / echo_burst_s:,.0f} calls/s)"
    )
    print(
        f"scores: served {sorted(served.values())}, cast {sorted(expected.values())}, "
        f"stored {sorted(stored.values())}: {'consistent, no vote lost' if consistent else 'MISMATCH'}"
    )
    if not consistent:
        raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--seed-concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--answers", type=int, default=4)
    parser.add_argument("--voters", type=int, default=16)
    parser.add_argument("--votes-per-voter", type=int, default=25)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--drain-timeout", type=float, default=30.0, help="seconds the relay gets for the seed's events"
    )
    parser.add_argument("--mongo-uri", default="", help="use this MongoDB/FerretDB instead of starting one")
    parser.add_argument(
        "--nats-url", default="", help="use this NATS (with JetStream) instead of starting one"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="guild-bench-") as tmp:
        ferret = FerretServer(data_dir=Path(tmp) / "ferretdb", log_dir=Path(tmp) / "logs")
        nats_server = NatsServer(data_dir=Path(tmp) / "nats", log_dir=Path(tmp) / "logs")
        try:
            if not args.mongo_uri:
                ferret.start()
            if not args.nats_url:
                nats_server.start()
            asyncio.run(_run(args, args.mongo_uri or ferret.uri, args.nats_url or nats_server.url))
        finally:
            nats_server.stop()
            ferret.stop()


if __name__ == "__main__":
    main()
