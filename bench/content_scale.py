"""Content reads and votes at 1,000, 10,000 and 100,000 posts in one community, against a bare gRPC echo.

Run: .venv/bin/python bench/content_scale.py [--sizes 1000,10000,100000] [--rounds 40]
     [--ferretdb PATH] [--disable-index-pushdown]
Starts its own FerretDB (the project's build, or --ferretdb; --disable-index-pushdown runs it without
serving queries from indexes, for a before/after in one run) and NATS, and runs the community and content
services in this process through their composition roots (real gRPC servers with auth, logging, the outbox
relay). Then, for each size in turn, in the same community:
- seeds questions up to the size by bulk insert in content's own document format
  (``Question.ask`` then ``question_document`` and its ``search_document``, ``insert_many`` in
  batches): a few years of questions, one in three answered, titles from a small vocabulary (each
  common word in about a third of the posts) and one rare word in one post of a thousand;
- measures, interleaved round by round so each call sees the same machine load: the bare echo;
  ListCommunityFeed newest first page and the page 50 deep (its token taken by paging there first);
  SearchQuestions for a common and for a rare word; ListUnansweredQuestions first page; GetQuestion of a
  question with five answers. Median and p99, and each median as a multiple of the echo's; then each
  call ``--cpu-calls`` times in a row, for the CPU it costs this process (client and services) and the store;
- at the largest size only: 16 voters at once, each flipping their vote on 4 answers in turn; votes/s,
  and that every answer's served score equals the sum of the last votes cast.
Prints one markdown table per size and a summary table of the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
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
from guild_common.clock import utc_now
from guild_common.ids import new_id
from guild_common.mongo import Document
from guild_community import bootstrap as community_bootstrap
from guild_community.config import CommunitySettings
from guild_content import bootstrap as content_bootstrap
from guild_content.adapters.question_documents import question_document
from guild_content.adapters.question_store import QUESTIONS
from guild_content.adapters.search_store import POST_SEARCH, search_document
from guild_content.config import ContentSettings
from guild_content.domain.questions import Question
from guild_testing.bench import ECHO, CpuMeter, bare_echo_server, median_p99_us, on_fresh_servers, progress
from guild_testing.fixtures import auth
from guild_testing.inprocess import running_service

OWNER = "bench-owner"
READER = "bench-reader"
AUTHORS = [f"author-{i:02d}" for i in range(20)]
VOTERS = [f"voter-{i:02d}" for i in range(16)]
ANSWERERS = [f"answerer-{i}" for i in range(5)]
COMMON = ["expense", "travel", "policy", "client", "receipt", "budget", "laptop", "training", "pricing"]
OTHER = ["mentor", "pension", "supplier", "forecast", "renewal", "canteen", "calendar", "invoice", "badge"]
RARE = "zeppelin"
TAGS = ["expenses", "travel", "hr", "it", "sales", "finance", "onboarding", "training"]
PAGE = 20
DEPTH = 50
SEED_BATCH = 1000
CALLS = (
    ("feed", "ListCommunityFeed, first page"),
    ("feed_deep", f"ListCommunityFeed, page {DEPTH} deep"),
    ("search_common", "SearchQuestions, common word"),
    ("search_rare", "SearchQuestions, rare word"),
    ("unanswered", "ListUnansweredQuestions, first page"),
    ("get_question", "GetQuestion, 5 answers"),
)


def question(i: int, community_id: str, rng: random.Random) -> Question:
    words = [*rng.sample(COMMON, 3), *rng.sample(OTHER, 2)]
    if i % 1000 == 500:
        words.append(RARE)
    rng.shuffle(words)
    asked = utc_now() - timedelta(days=3 * 365) + timedelta(seconds=i * 60)
    return Question.ask(
        id=new_id(),
        community_id=community_id,
        author_id=AUTHORS[i % len(AUTHORS)],
        title=" ".join(words) + f" ({i})",
        body=" ".join(rng.choice(COMMON + OTHER) for _ in range(30)),
        tags=rng.sample(TAGS, rng.randint(1, 3)),
        now=asked.replace(microsecond=asked.microsecond // 1000 * 1000),
    )


async def seed(
    db: Any,
    community_id: str,
    start: int,
    stop: int,
    rng: random.Random,
    with_fields: Callable[[list[Document]], None] | None = None,
) -> float:
    """Seed questions ``start`` to ``stop`` of the community; ``with_fields`` may add fields to each batch
    of documents before it is stored (their search documents are made after)."""
    started = time.perf_counter()
    for low in range(start, stop, SEED_BATCH):
        docs = []
        for i in range(low, min(stop, low + SEED_BATCH)):
            doc = question_document(question(i, community_id, rng))
            if i % 3 == 0:
                doc["answer_count"] = 1
            docs.append(doc)
        if with_fields is not None:
            with_fields(docs)
        await db[QUESTIONS].insert_many(docs, ordered=False)
        await db[POST_SEARCH].insert_many(
            [{"_id": d["_id"], **search_document(d)} for d in docs], ordered=False
        )
    return time.perf_counter() - started


class Calls:
    """The measured calls of one community, each returning what a check needs."""

    def __init__(self, content: api_grpc.ContentServiceStub, community_id: str, question_id: str) -> None:
        self.content = content
        self.community_id = community_id
        self.question_id = question_id
        self.deep_token = ""
        self.reader = auth(READER)

    async def feed(self, token: str = "") -> api.ListCommunityFeedResponse:
        response: api.ListCommunityFeedResponse = await self.content.ListCommunityFeed(
            api.ListCommunityFeedRequest(community_id=self.community_id, page_size=PAGE, page_token=token),
            metadata=self.reader,
        )
        return response

    async def find_deep_token(self) -> None:
        token = ""
        for _ in range(DEPTH - 1):
            token = (await self.feed(token)).next_page_token
        self.deep_token = token

    async def search(self, word: str) -> int:
        response: api.SearchQuestionsResponse = await self.content.SearchQuestions(
            api.SearchQuestionsRequest(query=word, community_id=self.community_id, page_size=PAGE),
            metadata=self.reader,
        )
        return len(response.hits)

    async def unanswered(self) -> int:
        response: api.ListUnansweredQuestionsResponse = await self.content.ListUnansweredQuestions(
            api.ListUnansweredQuestionsRequest(
                community_id=self.community_id, min_age_minutes=60, page_size=PAGE
            ),
            metadata=self.reader,
        )
        return len(response.items)

    async def get_question(self) -> int:
        response: api.GetQuestionResponse = await self.content.GetQuestion(
            api.GetQuestionRequest(question_id=self.question_id), metadata=self.reader
        )
        return len(response.answers)

    def named(self) -> dict[str, Callable[[], Awaitable[Any]]]:
        return {
            "feed": lambda: self.feed(),
            "feed_deep": lambda: self.feed(self.deep_token),
            "search_common": lambda: self.search(COMMON[0]),
            "search_rare": lambda: self.search(RARE),
            "unanswered": self.unanswered,
            "get_question": self.get_question,
        }


async def _latencies(calls: Calls, echo: Callable[[], Awaitable[Any]], rounds: int) -> dict[str, list[float]]:
    named = {"echo": echo, **calls.named()}
    samples: dict[str, list[float]] = {name: [] for name in named}
    for round_ in range(rounds + 3):
        for name, call in named.items():
            t0 = time.perf_counter()
            await call()
            if round_ >= 3:  # the first rounds warm every path
                samples[name].append(time.perf_counter() - t0)
    return samples


async def _votes(
    content: api_grpc.ContentServiceStub,
    question_id: str,
    answer_ids: list[str],
    rng: random.Random,
    per_voter: int,
    meter: CpuMeter,
) -> tuple[float, bool]:
    last: dict[tuple[str, str], int] = {}

    async def voter(name: str, offset: int) -> None:
        for n in range(per_voter):
            answer_id = answer_ids[(offset + n) % len(answer_ids)]
            value = -last.get((name, answer_id), 0) or rng.choice((1, -1))
            direction = pb.VOTE_DIRECTION_UP if value > 0 else pb.VOTE_DIRECTION_DOWN
            await content.CastVote(
                api.CastVoteRequest(target_id=answer_id, direction=direction), metadata=auth(name)
            )
            last[(name, answer_id)] = value

    meter.start()
    await asyncio.gather(*(voter(v, i) for i, v in enumerate(VOTERS)))
    meter.stop()
    return len(VOTERS) * per_voter / meter.wall, all(
        sum(v for (_, a), v in last.items() if a == answer_id) == score
        for answer_id, score in (await _scores(content, question_id)).items()
    )


async def _cpu_per_call(
    calls: Calls, echo: Callable[[], Awaitable[Any]], count: int, pids: dict[str, int]
) -> dict[str, dict[str, float]]:
    """CPU milliseconds per call of this process (client and services) and of the store, each call made
    ``count`` times in a row: where a call's time goes, beside its latency."""
    spent = {}
    for name, call in {"echo": echo, **calls.named()}.items():
        meter = CpuMeter({"services and client": None, "store": pids["store"]})
        meter.start()
        for _ in range(count):
            await call()
        meter.stop()
        spent[name] = meter.per_item_ms(count)
    return spent


async def _scores(content: api_grpc.ContentServiceStub, question_id: str) -> dict[str, int]:
    response: api.GetQuestionResponse = await content.GetQuestion(
        api.GetQuestionRequest(question_id=question_id), metadata=auth(READER)
    )
    return {a.id: int(a.score) for a in response.answers}


async def _run(args: argparse.Namespace, uri: str, nats_url: str) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    rng = random.Random(args.seed)
    common: dict[str, Any] = {
        "mongo_uri": uri,
        "nats_url": nats_url,
        "grpc_host": "127.0.0.1",
        "grpc_port": 0,
        "rate_limit_per_second": 0,  # one reader drives the load
    }
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    community_settings = CommunitySettings.model_validate({**common, "mongo_db": "guild_community_scale"})
    async with running_service(community_settings, community_bootstrap.build) as community_service:
        content_settings = ContentSettings.model_validate(
            {**common, "mongo_db": "guild_content_scale", "community_addr": community_service.address}
        )
        async with running_service(content_settings, content_bootstrap.build) as content_service:
            community = community_grpc.CommunityServiceStub(community_service.channel)
            content = api_grpc.ContentServiceStub(content_service.channel)
            await _measure(args, rng, community, content, mongo["guild_content_scale"])
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
            name="Scale",
            slug=f"scale-{rng.randrange(10**6)}",
            programme="sales",
            region="emea",
            visibility=cpb.VISIBILITY_OPEN,
        ),
        metadata=auth(OWNER),
    )
    cid = created.community.id
    for person in (READER, *AUTHORS, *VOTERS, *ANSWERERS):
        await community.JoinCommunity(
            community_api.JoinCommunityRequest(community_id=cid), metadata=auth(person)
        )
    await community.GrantRole(  # the unanswered queue is the champions'
        community_api.GrantRoleRequest(community_id=cid, member_id=READER, role=cpb.ROLE_CHAMPION),
        metadata=auth(OWNER),
    )
    target: api.AskQuestionResponse = await content.AskQuestion(
        api.AskQuestionRequest(community_id=cid, title="Which laptop bag does the travel policy allow?"),
        metadata=auth(READER),
    )
    answer_ids = []
    for person in ANSWERERS:
        answered: api.AnswerQuestionResponse = await content.AnswerQuestion(
            api.AnswerQuestionRequest(question_id=target.question.id, body=f"{person} says: the small one"),
            metadata=auth(person),
        )
        answer_ids.append(answered.answer.id)
    calls = Calls(content, cid, target.question.id)
    echo_server, echo_port = bare_echo_server()
    await echo_server.start()
    summary: list[tuple[int, dict[str, float]]] = []
    seeded = 0
    async with grpc.aio.insecure_channel(f"127.0.0.1:{echo_port}") as channel:
        echo_call = channel.unary_unary(ECHO)
        payload = api.ListCommunityFeedRequest(community_id=cid, page_size=PAGE).SerializeToString()

        async def echo() -> bytes:
            # the token the measured calls send, signed once like theirs
            response: bytes = await echo_call(payload, metadata=calls.reader)
            return response

        for size in args.sizes:
            seconds = await seed(db, cid, seeded, size, rng)
            progress(
                f"seeded {size - seeded:,} posts in {seconds:.1f} s ({(size - seeded) / seconds:,.0f}/s)"
            )
            seeded = size
            await calls.find_deep_token()
            assert len((await calls.feed(calls.deep_token)).items) == PAGE
            assert await calls.search(RARE) >= 1
            assert await calls.unanswered() == PAGE
            samples = await _latencies(calls, echo, args.rounds)
            cpu = await _cpu_per_call(calls, echo, args.cpu_calls, args.pids)
            echo_median = statistics.median(samples["echo"])
            ratios = {name: statistics.median(samples[name]) / echo_median for name, _ in CALLS}
            summary.append((size, ratios))
            print(f"\n{size:,} posts, {args.rounds} rounds\n")
            print(
                "| call | median (µs) | p99 (µs) | median / echo "
                "| CPU ms per call: services and client / store |"
            )
            print("|---|---:|---:|---:|---:|")
            for name, label in (("echo", "bare gRPC echo"), *CALLS):
                median, p99 = median_p99_us(samples[name])
                ms = cpu[name]
                print(
                    f"| {label} | {median:,.0f} | {p99:,.0f} | {median / 1e6 / echo_median:.1f} | "
                    f"{ms['services and client']:.2f} / {ms['store']:.2f} |"
                )
    await echo_server.stop(None)
    meter = CpuMeter({"services and client": None, **args.pids})
    votes = len(VOTERS) * args.votes_per_voter
    rate, exact = await _votes(content, target.question.id, answer_ids, rng, args.votes_per_voter, meter)
    print(
        f"\nvotes at {seeded:,} posts: {len(VOTERS)} voters at once, {rate:,.0f} votes/s; scores "
        f"{'equal the votes cast' if exact else 'DIFFER from the votes cast'}"
    )
    per_vote = ", ".join(f"{name} {ms:.2f} ms" for name, ms in meter.per_item_ms(votes).items())
    busiest, bound = meter.busiest(votes)
    print(
        f"CPU per vote: {per_vote}; the cores allow {meter.ceiling(votes):,.0f} votes/s at that cost, "
        f"one core of the {busiest} {bound:,.0f}/s"
    )
    print("\n| call | " + " | ".join(f"{size:,} posts" for size, _ in summary) + " |")
    print("|---|" + "---:|" * len(summary))
    for name, label in CALLS:
        print(f"| {label} | " + " | ".join(f"{ratios[name]:.1f}x" for _, ratios in summary) + " |")
    if not exact:
        raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000", type=lambda v: [int(x) for x in v.split(",")])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--ferretdb", type=Path, default=None, help="FerretDB binary (default: the build)")
    parser.add_argument("--disable-index-pushdown", action="store_true")
    parser.add_argument("--votes-per-voter", type=int, default=25)
    parser.add_argument("--cpu-calls", type=int, default=200, help="calls of each kind to measure CPU over")
    args = parser.parse_args()
    on_fresh_servers(
        lambda uri, nats_url: _run(args, uri, nats_url),
        ferretdb=args.ferretdb,
        ferretdb_args=["-disable-index-pushdown"] if args.disable_index_pushdown else [],
        started=lambda pids: setattr(args, "pids", pids),
    )


if __name__ == "__main__":
    main()
