"""Reading what a service published on its JetStream stream, for tests."""

from __future__ import annotations

import asyncio

import nats

from guild_common.events.envelope import Envelope

# (event name, CloudEvents subject) of the events seen.
Seen = set[tuple[str, str]]


async def await_events(
    nats_url: str, stream: str, expected: Seen, seen: Seen, *, timeout: float = 5.0
) -> Seen:
    """Read ``stream`` into ``seen`` as (event name, subject) until ``expected`` arrived or time is up."""
    nc = await nats.connect(nats_url)
    try:
        sub = await nc.jetstream().pull_subscribe("guild.>", stream=stream)
        deadline = asyncio.get_running_loop().time() + timeout
        while not expected <= seen and asyncio.get_running_loop().time() < deadline:
            try:
                for msg in await sub.fetch(100, timeout=0.25):
                    envelope = Envelope.from_message(msg.subject, msg.headers, msg.data)
                    seen.add((envelope.topic.rsplit(".", 1)[-1], envelope.subject))
                    await msg.ack()
            except TimeoutError:  # nats-py raises its own subclass or the builtin
                pass
        await sub.unsubscribe()
    finally:
        await nc.close()
    return seen
