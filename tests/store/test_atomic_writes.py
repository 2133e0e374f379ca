"""Single-document writes on the embedded store are atomic across client processes, as on MongoDB.

Two processes with several threads each hammer the same documents with ``$inc``, a capped counter
(``{n: {$lt: cap}}`` guard), a version-guarded read-modify-write and ``$addToSet``; nothing may be
lost and no guard may be overrun.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time
from typing import Any

from pymongo import AsyncMongoClient, MongoClient, UpdateOne

from guild_testing.fixtures import Infra

WORKER = textwrap.dedent(
    """
    import sys, threading
    from pymongo import MongoClient

    uri, db, tag, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    coll = MongoClient(uri)[db]["docs"]

    def run(thread: int) -> None:
        for i in range(rounds):
            coll.update_one({"_id": "inc"}, {"$inc": {"n": 1}})
            coll.find_one_and_update({"_id": "cap", "n": {"$lt": 50}}, {"$inc": {"n": 1}})
            coll.update_one({"_id": "set"}, {"$addToSet": {"items": f"{tag}-{thread}-{i}"}})
            while True:  # read, compute, write back only if nobody wrote in between
                doc = coll.find_one({"_id": "rmw"})
                done = coll.update_one(
                    {"_id": "rmw", "version": doc["version"]},
                    {"$set": {"total": doc["total"] + 2}, "$inc": {"version": 1}},
                )
                if done.modified_count == 1:
                    break

    threads = [threading.Thread(target=run, args=(t,)) for t in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    """
)

ROUNDS = 40
PROCESSES = 2
THREADS = 3


def test_two_processes_lose_no_update_and_overrun_no_guard(infra: Infra) -> None:
    db = "t_store_atomic"
    client: MongoClient[dict[str, Any]] = MongoClient(infra.mongo_uri)
    client.drop_database(db)
    client[db]["docs"].insert_many(
        [
            {"_id": "inc", "n": 0},
            {"_id": "cap", "n": 0},
            {"_id": "set", "items": []},
            {"_id": "rmw", "total": 0, "version": 0},
        ]
    )
    workers = [
        subprocess.Popen([sys.executable, "-c", WORKER, infra.mongo_uri, db, f"p{p}", str(ROUNDS)])
        for p in range(PROCESSES)
    ]
    assert all(w.wait(timeout=240) == 0 for w in workers)

    writes = PROCESSES * THREADS * ROUNDS
    docs = {d["_id"]: d for d in client[db]["docs"].find()}
    client.close()
    assert docs["inc"]["n"] == writes
    assert docs["cap"]["n"] == 50
    assert len(docs["set"]["items"]) == writes
    assert docs["rmw"]["total"] == 2 * writes
    assert docs["rmw"]["version"] == writes


async def test_concurrent_multi_statement_bulk_writes_neither_stall_nor_lose_a_change(infra: Infra) -> None:
    """Many clients each sending bulks of several upserts to one collection at once, as a consumer
    batching counter updates does: every bulk completes, promptly, and every increment is kept."""
    clients = [
        AsyncMongoClient[dict[str, Any]](infra.mongo_uri, socketTimeoutMS=30_000, maxPoolSize=100)
        for _ in range(2)
    ]
    counters = clients[0]["t_store_bulks"]["counters"]
    await counters.drop()
    rounds, tasks = 5, 48

    async def bulks(client: AsyncMongoClient[dict[str, Any]], task: int) -> None:
        collection = client["t_store_bulks"]["counters"]
        for _ in range(rounds):
            await collection.bulk_write(
                [UpdateOne({"_id": f"c{(task + k) % 5}"}, {"$inc": {"n": 1}}, upsert=True) for k in range(3)]
            )

    started = time.perf_counter()
    await asyncio.wait_for(
        asyncio.gather(*(bulks(client, t) for client in clients for t in range(tasks))), timeout=120
    )
    elapsed = time.perf_counter() - started
    total = sum([doc["n"] async for doc in counters.find()])
    for client in clients:
        await client.close()
    assert total == len(clients) * tasks * rounds * 3
    assert elapsed < 60
