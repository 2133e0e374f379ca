"""Read latency on the embedded store with and without index pushdown, on post-shaped documents.

Run: .venv/bin/python bench/store_reads.py [--ferretdb PATH] [--docs 100000] [--runs 3]
Starts the FerretDB build twice on throwaway data folders, once with ``-disable-index-pushdown`` (every
query reads the whole collection and FerretDB filters, sorts and limits in memory) and once without, loads
the same posts into both (20 communities, a creation time, ``tags`` and ``terms`` arrays, the indexes
content declares for questions and resources) and times the reads Guild makes:
- a community feed page (``{community_id}`` sorted by ``created_at, _id`` descending, limit 20) and the
  next page by its keyset token;
- the first page of three communities at once (``$in``);
- a terms search in a community (``$in`` and ``$all`` of two terms) and a tag feed;
- ``count_documents`` and the ``count`` command for one community.
Prints a markdown table of the median of ``--runs`` runs (one run without pushdown) and checks that both
servers return the same number of documents.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bson import ObjectId
from pymongo import DESCENDING, MongoClient
from pymongo.collection import Collection

from guild_testing.servers import FerretServer, ferretdb_binary

DISABLE_ENV = "FERRETDB_DISABLE_INDEX_PUSHDOWN"
COMMUNITIES = [f"community-{i:02d}" for i in range(20)]
TAGS = [f"tag{i}" for i in range(30)]
WORDS = [f"word{i}" for i in range(200)]
INDEXES: list[list[tuple[str, int]]] = [
    [("community_id", 1), ("created_at", -1), ("_id", -1)],
    [("community_id", 1), ("kind", 1), ("created_at", -1), ("_id", -1)],
    [("community_id", 1), ("activity_time", -1), ("_id", -1)],
    [("community_id", 1), ("score", -1), ("_id", -1)],
    [("tags", 1), ("created_at", -1), ("_id", -1)],
    [("terms", 1), ("community_id", 1), ("created_at", -1), ("_id", -1)],
]
NEWEST = [("created_at", DESCENDING), ("_id", DESCENDING)]


def post(rng: random.Random, i: int) -> dict[str, Any]:
    created = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(90 * 24 * 3600))
    return {
        "_id": ObjectId(rng.randbytes(12)),
        "community_id": rng.choice(COMMUNITIES),
        "kind": rng.choice(["question", "post", "link"]),
        "author_id": f"member-{rng.randrange(2000)}",
        "title": f"Title {i} " + " ".join(rng.sample(WORDS, 4)),
        "body": " ".join(rng.choices(WORDS, k=30)),
        "created_at": created,
        "activity_time": created + timedelta(seconds=rng.randrange(3600)),
        "score": rng.randrange(100),
        "tags": rng.sample(TAGS, rng.randint(1, 3)),
        "terms": rng.sample(WORDS, rng.randint(3, 8)),
    }


def reads(posts: Collection[dict[str, Any]]) -> dict[str, Callable[[], int]]:
    community = COMMUNITIES[3]
    last = list(posts.find({"community_id": community}, sort=NEWEST, limit=20))[-1]
    keyset = {
        "community_id": community,
        "$or": [
            {"created_at": {"$lt": last["created_at"]}},
            {"created_at": last["created_at"], "_id": {"$lt": last["_id"]}},
        ],
    }

    def page(flt: dict[str, Any]) -> Callable[[], int]:
        return lambda: len(list(posts.find(flt, sort=NEWEST, limit=20)))

    return {
        "feed page": page({"community_id": community}),
        "keyset next page": page(keyset),
        "$in 3 communities, first page": page({"community_id": {"$in": COMMUNITIES[:3]}}),
        "terms $in + community, first page": page(
            {"terms": {"$in": ["word5", "word6"]}, "community_id": community}
        ),
        "terms $all + community, first page": page(
            {"terms": {"$all": ["word5", "word6"]}, "community_id": community}
        ),
        "tag feed page": page({"tags": "tag7"}),
        "count_documents, one community": lambda: posts.count_documents({"community_id": community}),
        "count command, one community": lambda: int(
            posts.database.command("count", posts.name, query={"community_id": community})["n"]
        ),
    }


def measure(uri: str, docs: list[dict[str, Any]], runs: int) -> dict[str, tuple[float, int]]:
    client: MongoClient[dict[str, Any]] = MongoClient(uri, tz_aware=True)
    posts = client["bench_reads"]["posts"]
    for keys in INDEXES:
        posts.create_index(keys)
    for begin in range(0, len(docs), 1000):
        posts.insert_many(docs[begin : begin + 1000])
    results: dict[str, tuple[float, int]] = {}
    for name, read in reads(posts).items():
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            found = read()
            times.append(time.perf_counter() - start)
        results[name] = (statistics.median(times), found)
    client.close()
    return results


def show(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ferretdb", help="FerretDB binary; default: the build")
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    binary = Path(args.ferretdb) if args.ferretdb else ferretdb_binary()
    rng = random.Random(args.seed)
    docs = [post(rng, i) for i in range(args.docs)]
    plain_env = {k: v for k, v in os.environ.items() if k != DISABLE_ENV}
    table: dict[str, dict[str, tuple[float, int]]] = {}
    for label, extra, env, runs in [
        ("no pushdown", ["-disable-index-pushdown"], {**plain_env, DISABLE_ENV: "1"}, 1),
        ("pushdown", [], plain_env, args.runs),
    ]:
        with tempfile.TemporaryDirectory(prefix="guild-bench-") as tmp:
            server = FerretServer(
                data_dir=Path(tmp) / "data",
                log_dir=Path(tmp) / "logs",
                binary=binary,
                extra_args=extra,
                env=env,
            )
            server.start()
            try:
                table[label] = measure(server.uri, docs, runs)
            finally:
                server.stop()
    before, after = table["no pushdown"], table["pushdown"]
    print(f"{args.docs} posts in {len(COMMUNITIES)} communities\n")
    print("| read | no pushdown | pushdown | documents (or count) |")
    print("|---|---|---|---|")
    for name, (seconds, found) in before.items():
        seconds_after, found_after = after[name]
        same = found if found == found_after else f"{found} != {found_after}"
        print(f"| {name} | {show(seconds)} | {show(seconds_after)} | {same} |")


if __name__ == "__main__":
    main()
