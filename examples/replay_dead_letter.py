"""Publish dead-lettered events again, once their cause is fixed, and remove them from ``dead_letters``.

    .venv/bin/python examples/replay_dead_letter.py --mongo-uri "$GUILD_MONGO_URI" \
        --database guild_notify_emea --nats nats://nats.guild-infra.svc:4222 --event-id 9ac190bd...
    .venv/bin/python examples/replay_dead_letter.py ... --consumer notify_emea_all_GUILD_CONTENT

Each record is published to its subject with its headers and data but a new ``Nats-Msg-Id`` (the old
one may still be in the stream's duplicate window). ``ce-id`` is kept: the consumer that gave up has no
``processed_events`` record for it and handles it; the other consumers of the subject skip it as a
duplicate. Records without an ``event_id`` (malformed envelopes) are left alone.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from typing import Any

import nats
from pymongo import AsyncMongoClient


async def replay(
    mongo_uri: str, database: str, nats_url: str, *, event_ids: list[str], consumer: str | None
) -> int:
    query: dict[str, Any] = {"event_id": {"$in": event_ids}} if event_ids else {"consumer": consumer}
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri)
    nc = await nats.connect(nats_url)
    replayed = 0
    try:
        db = client[database]
        js = nc.jetstream()
        async for letter in db.dead_letters.find(query).sort("at", 1):
            if not letter.get("event_id"):
                print(f"skipped {letter['_id']}: malformed envelope", file=sys.stderr)
                continue
            headers = {str(k): str(v) for k, v in letter["headers"].items()}
            headers["Nats-Msg-Id"] = f"{letter['event_id']}:replay:{uuid.uuid4().hex}"
            ack = await js.publish(letter["topic"], bytes(letter["data"]), headers=headers)
            await db.dead_letters.delete_one({"_id": letter["_id"]})
            print(f"replayed {letter['event_id']} ({letter['event_type']}) as {letter['topic']} #{ack.seq}")
            replayed += 1
    finally:
        await nc.close()
        await client.close()
    return replayed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--mongo-uri", required=True)
    parser.add_argument("--database", required=True, help="the consuming service's database")
    parser.add_argument("--nats", default="nats://127.0.0.1:4222")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--event-id", action="append", default=[], help="ce-id of a dead letter (repeatable)")
    which.add_argument("--consumer", help="every dead letter of this durable consumer")
    args = parser.parse_args(argv)
    count = asyncio.run(
        replay(args.mongo_uri, args.database, args.nats, event_ids=args.event_id, consumer=args.consumer)
    )
    print(f"{count} dead letter(s) replayed")
    return 0 if count else 1


if __name__ == "__main__":
    sys.exit(main())
