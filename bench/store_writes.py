"""Write cost on the embedded store: single insert and update, with no secondary index and with ten.

Run: .venv/bin/python bench/store_writes.py [--ferretdb PATH ...] [--writes 2000]
For each FerretDB binary given (default: the project's build), starts it on a throwaway data folder and
measures, interleaved so both see the same machine load:
- ``insert_one`` of a post-shaped document (~1 KB: ids, community, author, times, title, body, tags,
  terms, counters) into a collection with only the ``_id`` index, and into one with ten secondary
  indexes like content's (single, compound with a descending time, multikey ``tags`` and ``terms``);
- ``update_one`` by ``_id`` with ``$inc`` and ``$set`` on both collections;
- ``find_one`` by ``_id`` (a bare round trip through the store, the floor of any command).
Prints a markdown table of medians and p99 in microseconds, and each binary's ratio to the first one.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import ASCENDING, DESCENDING, MongoClient

from guild_testing.servers import FerretServer, ferretdb_binary

INDEXES: list[list[tuple[str, int]]] = [
    [("community_id", ASCENDING), ("create_time", DESCENDING), ("_id", DESCENDING)],
    [("community_id", ASCENDING), ("answered", ASCENDING), ("create_time", DESCENDING)],
    [("community_id", ASCENDING), ("score", DESCENDING)],
    [("author_id", ASCENDING), ("create_time", DESCENDING)],
    [("tags", ASCENDING)],
    [("terms", ASCENDING)],
    [("kind", ASCENDING), ("create_time", DESCENDING)],
    [("outbox_pending", ASCENDING)],
    [("question_id", ASCENDING)],
    [("update_time", DESCENDING)],
]
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
]


def post(i: int, rng: random.Random) -> dict[str, Any]:
    words = rng.sample(WORDS, 6)
    return {
        "_id": f"p{i:08d}",
        "kind": "question",
        "community_id": f"c{i % 4}",
        "author_id": f"m{rng.randrange(500)}",
        "create_time": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=i),
        "update_time": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=i),
        "title": " ".join(words[:4]),
        "body": " ".join(rng.choice(WORDS) for _ in range(120)),
        "tags": rng.sample(["sales", "travel", "it", "hr", "finance"], 2),
        "terms": words,
        "answered": False,
        "score": 0,
        "answer_count": 0,
        "version": 1,
        "outbox_pending": False,
    }


def _since(start: float) -> float:
    return (time.perf_counter() - start) * 1e6


def measure(uri: str, writes: int, seed: int) -> dict[str, list[float]]:
    client: MongoClient[dict[str, Any]] = MongoClient(uri)
    db = client["bench_writes"]
    plain, indexed = db["plain"], db["indexed"]
    for keys in INDEXES:
        indexed.create_index(keys)
    rng = random.Random(seed)
    results: dict[str, list[float]] = {
        k: []
        for k in (
            "insert, _id only",
            "insert, 10 indexes",
            "update, _id only",
            "update, 10 indexes",
            "find by _id",
        )
    }
    for i in range(writes):
        doc = post(i, rng)
        start = time.perf_counter()
        plain.insert_one(dict(doc))
        results["insert, _id only"].append(_since(start))
        start = time.perf_counter()
        indexed.insert_one(dict(doc))
        results["insert, 10 indexes"].append(_since(start))
    for _ in range(writes):
        target = {"_id": f"p{rng.randrange(writes):08d}"}
        change = {"$inc": {"score": 1, "version": 1}, "$set": {"update_time": datetime.now(UTC)}}
        start = time.perf_counter()
        plain.update_one(target, change)
        results["update, _id only"].append(_since(start))
        start = time.perf_counter()
        indexed.update_one(target, change)
        results["update, 10 indexes"].append(_since(start))
        start = time.perf_counter()
        plain.find_one(target)
        results["find by _id"].append(_since(start))
    client.close()
    return results


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--ferretdb", action="append", help="FerretDB binary (repeatable); default: the build"
    )
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    binaries = [Path(b) for b in args.ferretdb or [str(ferretdb_binary())]]
    table: dict[Path, dict[str, list[float]]] = {}
    for binary in binaries:
        with tempfile.TemporaryDirectory(prefix="guild-bench-") as tmp:
            server = FerretServer(data_dir=Path(tmp) / "data", log_dir=Path(tmp) / "logs", binary=binary)
            server.start()
            try:
                table[binary] = measure(server.uri, args.writes, args.seed)
            finally:
                server.stop()
    first = table[binaries[0]]
    print(f"{args.writes} writes each; microseconds\n")
    print("| operation | " + " | ".join(f"{b.name} median / p99" for b in binaries) + " | ratio of medians |")
    print("|---|" + "---|" * (len(binaries) + 1))
    for op, base in first.items():
        cells = [f"{statistics.median(table[b][op]):.0f} / {p99(table[b][op]):.0f}" for b in binaries]
        ratios = " / ".join(
            f"{statistics.median(table[b][op]) / statistics.median(base):.2f}" for b in binaries
        )
        print(f"| {op} | " + " | ".join(cells) + f" | {ratios} |")


if __name__ == "__main__":
    main()
