"""What finding questions that mean the same costs: AskQuestion with and without it, and the lookup alone.

Run: .venv/bin/python bench/duplicates_speed.py [--sizes 1000,10000,100000] [--rounds 60] [--lookups 200]

Starts its own FerretDB (the project's build) and NATS, the community service and two replicas of the
content service on one database, one suggesting by meaning and one with it switched off
(``GUILD_SIMILAR_BY_MEANING=false``). For each size in turn, in one community:
- seeds questions up to the size as ``bench/content_scale.py`` does (``seed``), each with its meaning
  vector and bucket keys, embedded in batches;
- AskQuestion, alternating between the two replicas round by round (new questions from the same
  generator, each ~60 words): median and p99 of each, and the difference of the medians;
- the nearest-neighbour lookup alone, in this process: the candidates of 16 bucket keys (one indexed
  read each, at once) and the exact cosine re-rank, for the vectors of seeded questions; median and p99,
  and how many candidates were scored; and the store's explain of one key's read (served by the index,
  sort and limit pushed down).
Also the embedding of one question text of the bounded length alone. Prints markdown tables.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import structlog
from pymongo import AsyncMongoClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.content_scale import question, seed

from guild.community.v1 import community_pb2 as cpb
from guild.community.v1 import community_service_pb2 as community_api
from guild.community.v1 import community_service_pb2_grpc as community_grpc
from guild.content.v1 import content_service_pb2 as api
from guild.content.v1 import content_service_pb2_grpc as api_grpc
from guild_common.mongo import Document
from guild_community import bootstrap as community_bootstrap
from guild_community.config import CommunitySettings
from guild_content import bootstrap as content_bootstrap
from guild_content.adapters.embedding_model import WordLlamaEmbedder
from guild_content.adapters.meaning_store import SIM_KEYS, VEC, MeaningIndex
from guild_content.adapters.search_store import POST_SEARCH
from guild_content.config import ContentSettings
from guild_content.domain import similarity
from guild_testing.bench import median_p99_us, on_fresh_servers, progress
from guild_testing.fixtures import auth
from guild_testing.inprocess import running_service

OWNER = "bench-owner"
ASKER = "bench-asker"
DB = "guild_content_dups"


def _with_meaning(embedder: WordLlamaEmbedder) -> Any:
    def add(docs: list[Document]) -> None:
        vectors = embedder.embed_many([similarity.text_of(d["title"], d["body"]) for d in docs])
        for doc, vector in zip(docs, vectors, strict=True):
            doc[VEC] = similarity.pack(vector)
            doc[SIM_KEYS] = similarity.bucket_keys(vector)

    return add


async def _asks(
    stubs: dict[str, api_grpc.ContentServiceStub], cid: str, rng: random.Random, rounds: int, start: int
) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in stubs}
    for round_ in range(rounds + 3):
        for name, stub in stubs.items():
            q = question(start + round_ * len(stubs) + len(samples[name]), cid, rng)
            request = api.AskQuestionRequest(community_id=cid, title=q.title, body=q.body, tags=q.tags)
            t0 = time.perf_counter()
            await stub.AskQuestion(request, metadata=auth(ASKER))
            if round_ >= 3:  # the first rounds warm every path
                samples[name].append(time.perf_counter() - t0)
    return samples


async def _lookups(db: Any, cid: str, count: int) -> tuple[list[float], float]:
    index = MeaningIndex(db[POST_SEARCH])
    stored = (
        await db[POST_SEARCH]
        .find({"community_id": cid, VEC: {"$exists": True}}, {VEC: 1})
        .limit(count)
        .to_list()
    )
    samples, scored = [], []
    for doc in stored:
        vector = similarity.unpack(doc[VEC])
        t0 = time.perf_counter()
        candidates = await index.candidates(
            cid, similarity.bucket_keys(vector), similarity.CANDIDATES_PER_KEY
        )
        similarity.nearest(doc[VEC], candidates.items())
        samples.append(time.perf_counter() - t0)
        scored.append(len(candidates))
    return samples, statistics.mean(scored)


async def _explain(db: Any, cid: str) -> str:
    doc = await db[POST_SEARCH].find_one({"community_id": cid, SIM_KEYS: {"$exists": True}})
    reply = await db.command(
        "explain",
        {
            "find": POST_SEARCH,
            "filter": {SIM_KEYS: doc[SIM_KEYS][0], "community_id": {"$in": [cid]}},
            "sort": {"create_time": -1, "_id": -1},
            "limit": similarity.CANDIDATES_PER_KEY,
        },
    )
    index = "INDEX" in str(reply.get("queryPlanner"))
    sort, limit = bool(reply.get("sortPushdown")), bool(reply.get("limitPushdown"))
    return f"index {index}, sort pushed down {sort}, limit pushed down {limit}"


def _embedding_us(embedder: WordLlamaEmbedder, rng: random.Random) -> tuple[float, float]:
    words = [
        "induction",
        "payroll",
        "mentor",
        "leave",
        "customer",
        "invoice",
        "quota",
        "appraisal",
        "sepsis",
        "handover",
    ]
    text = similarity.text_of(
        "How do I " + " ".join(rng.choices(words, k=8)), " ".join(rng.choices(words, k=200))
    )
    samples = []
    for _ in range(1000):
        t0 = time.perf_counter()
        embedder.embed(text)
        samples.append(time.perf_counter() - t0)
    return median_p99_us(samples)


async def _run(args: argparse.Namespace, uri: str, nats_url: str) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    rng = random.Random(args.seed)
    common: dict[str, Any] = {
        "mongo_uri": uri,
        "nats_url": nats_url,
        "grpc_host": "127.0.0.1",
        "grpc_port": 0,
        "rate_limit_per_second": 0,
    }
    embedder = WordLlamaEmbedder()
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    db = mongo[DB]
    community_settings = CommunitySettings.model_validate({**common, "mongo_db": "guild_community_dups"})
    async with running_service(community_settings, community_bootstrap.build) as community_service:
        content = {**common, "mongo_db": DB, "community_addr": community_service.address}
        on = ContentSettings.model_validate({**content, "similar_by_meaning": True})
        off = ContentSettings.model_validate({**content, "similar_by_meaning": False})
        async with (
            running_service(on, content_bootstrap.build) as with_meaning,
            running_service(off, content_bootstrap.build) as without,
        ):
            community = community_grpc.CommunityServiceStub(community_service.channel)
            created = await community.CreateCommunity(
                community_api.CreateCommunityRequest(
                    name="Duplicates",
                    slug="duplicates",
                    programme="sales",
                    region="emea",
                    visibility=cpb.VISIBILITY_OPEN,
                ),
                metadata=auth(OWNER),
            )
            cid = created.community.id
            await community.JoinCommunity(
                community_api.JoinCommunityRequest(community_id=cid), metadata=auth(ASKER)
            )
            stubs = {
                "with meaning": api_grpc.ContentServiceStub(with_meaning.channel),
                "terms only": api_grpc.ContentServiceStub(without.channel),
            }
            seeded, asked = 0, 10**7
            rows = []
            for size in args.sizes:
                seconds = await seed(db, cid, seeded, size, rng, _with_meaning(embedder))
                progress(f"seeded {size - seeded:,} questions with vectors in {seconds:.1f} s")
                seeded = size
                samples = await _asks(stubs, cid, rng, args.rounds, asked)
                asked += 10 * args.rounds
                lookups, scored = await _lookups(db, cid, args.lookups)
                rows.append((size, samples, lookups, scored, await _explain(db, cid)))
    await mongo.close()
    print("\nAskQuestion, two replicas on one database, alternating\n")
    print(
        "| questions | with meaning: median (µs) | p99 (µs) | terms only: median (µs) | p99 (µs) "
        "| added (median) |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for size, samples, *_ in rows:
        (m1, p1), (m0, p0) = median_p99_us(samples["with meaning"]), median_p99_us(samples["terms only"])
        print(f"| {size:,} | {m1:,.0f} | {p1:,.0f} | {m0:,.0f} | {p0:,.0f} | {m1 - m0:,.0f} |")
    print("\nNearest-neighbour lookup alone (16 keys read at once, cosine re-rank)\n")
    print("| questions | median (µs) | p99 (µs) | candidates scored (mean) | a key's read, explained |")
    print("|---:|---:|---:|---:|---|")
    for size, _, lookups, scored, plan in rows:
        median, p99 = median_p99_us(lookups)
        print(f"| {size:,} | {median:,.0f} | {p99:,.0f} | {scored:.0f} | {plan} |")
    median, p99 = _embedding_us(embedder, rng)
    print(
        f"\nEmbedding one question text of {similarity.TEXT_MAX} characters: "
        f"median {median:.0f} µs, p99 {p99:.0f} µs"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000", type=lambda v: [int(x) for x in v.split(",")])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--lookups", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    on_fresh_servers(lambda uri, nats_url: _run(args, uri, nats_url))


if __name__ == "__main__":
    main()
