"""Outbox relay and durable consumer against real FerretDB and NATS."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import nats
import pytest
import pytest_asyncio
import structlog.testing
from google.protobuf import wrappers_pb2
from nats.js.api import AckPolicy, ConsumerConfig
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from guild_common.events.consumer import DEAD_LETTERS, PROCESSED, ConsumerSpec, EventConsumer, PermanentError
from guild_common.events.envelope import Envelope, new_envelope
from guild_common.events.outbox import PENDING, OutboxRelay, outbox_fields, outbox_update
from guild_common.events.publisher import JetStreamPublisher
from guild_common.mongo import Document
from guild_testing.fixtures import Infra


def _event(text: str) -> Envelope:
    return new_envelope(
        service="demo",
        name="said",
        payload=wrappers_pb2.StringValue(value=text),
        subject=text,
        region="emea",
        programme="sales",
    )


@pytest_asyncio.fixture
async def db(infra: Infra, request: pytest.FixtureRequest) -> AsyncIterator[AsyncDatabase[Document]]:
    client: AsyncMongoClient[Document] = AsyncMongoClient(infra.mongo_uri, tz_aware=True)
    name = "t_events_" + request.node.name.replace("[", "_").replace("]", "")[:40]
    await client.drop_database(name)
    yield client[name]
    await client.close()


async def _collect(js: nats.js.JetStreamContext, count: int, wait_seconds: float = 5.0) -> list[Envelope]:
    sub = await js.pull_subscribe("guild.*.*.demo.>", durable="collector", stream="GUILD_DEMO")
    received: list[Envelope] = []
    deadline = asyncio.get_running_loop().time() + wait_seconds
    while len(received) < count and asyncio.get_running_loop().time() < deadline:
        try:
            for msg in await sub.fetch(count - len(received), timeout=0.5):
                received.append(Envelope.from_message(msg.subject, msg.headers, msg.data))
                await msg.ack()
        except TimeoutError:  # nats-py raises its own subclass or the builtin, depending on the path
            pass
    return received


async def test_relay_publishes_each_event_once_even_when_republished(
    db: AsyncDatabase[Document], js: nats.js.JetStreamContext
) -> None:
    first, second = _event("one"), _event("two")
    await db.things.insert_one({"_id": "a", **outbox_fields([first])})
    await db.things.update_one({"_id": "a"}, outbox_update([second]))
    relay = OutboxRelay(db, ["things"], JetStreamPublisher(js))
    assert await relay.drain() == 2
    # A crash between publish and clear republishes; Nats-Msg-Id absorbs the duplicates.
    await db.things.update_one({"_id": "a"}, outbox_update([first, second]))
    assert await relay.drain() == 2
    received = await _collect(js, 4, wait_seconds=2.0)
    assert [e.id for e in received] == [first.id, second.id]
    assert received[0].topic == "guild.emea.sales.demo.said"
    assert received[0].payload(wrappers_pb2.StringValue).value == "one"
    doc = await db.things.find_one({"_id": "a"})
    assert doc is not None
    assert doc["outbox"] == []
    assert doc[PENDING] is False


async def test_relay_keeps_events_queued_while_it_was_publishing(
    db: AsyncDatabase[Document], js: nats.js.JetStreamContext
) -> None:
    late = _event("late")

    class SlowPublisher(JetStreamPublisher):
        async def publish(self, envelope: Envelope) -> None:
            await super().publish(envelope)
            if envelope.subject == "early":
                await db.things.update_one({"_id": "b"}, outbox_update([late]))

    await db.things.insert_one({"_id": "b", **outbox_fields([_event("early")])})
    relay = OutboxRelay(db, ["things"], SlowPublisher(js))
    await relay.drain()
    doc = await db.things.find_one({"_id": "b"})
    assert doc is not None
    assert [e["id"] for e in doc["outbox"]] == [late.id]  # the late event survived, the published one went
    assert doc[PENDING] is True
    await relay.drain()
    received = await _collect(js, 2)
    assert [e.subject for e in received] == ["early", "late"]


async def test_a_named_document_is_published_at_once_and_the_rest_by_the_periodic_full_sweep(
    db: AsyncDatabase[Document], js: nats.js.JetStreamContext
) -> None:
    relay = OutboxRelay(db, ["things"], JetStreamPublisher(js), sweep_seconds=0.05, full_sweep_seconds=1.5)
    assert await relay.sweep() is False  # the start's full sweep: nothing yet
    named, unnamed = _event("named"), _event("unnamed")
    await db.things.insert_one({"_id": "n", **outbox_fields([named])})
    await db.things.insert_one({"_id": "u", **outbox_fields([unnamed])})  # a writer that crashed
    relay.wake("things", "n")
    task = asyncio.create_task(relay.run())
    try:
        first = await _collect(js, 1, wait_seconds=1.0)
        # Only the named document went out: no full sweep is due yet.
        assert [e.subject for e in first] == ["named"]
        doc = await db.things.find_one({"_id": "u"})
        assert doc is not None
        assert doc[PENDING] is True
        # The periodic full sweep finds the document nobody named.
        deadline = asyncio.get_running_loop().time() + 5.0
        while asyncio.get_running_loop().time() < deadline:
            doc = await db.things.find_one({"_id": "u"})
            if doc is not None and doc[PENDING] is False:
                break
            await asyncio.sleep(0.05)
        assert doc is not None
        assert doc[PENDING] is False
    finally:
        relay.stop()
        await task


async def test_a_failed_pass_is_followed_by_a_full_sweep(
    db: AsyncDatabase[Document], js: nats.js.JetStreamContext
) -> None:
    class FailingOnce(JetStreamPublisher):
        failed = False

        async def publish(self, envelope: Envelope) -> None:
            if not self.failed:
                self.failed = True
                raise ConnectionError("NATS is down")
            await super().publish(envelope)

    relay = OutboxRelay(db, ["things"], FailingOnce(js), full_sweep_seconds=3600)
    await relay.sweep()
    await db.things.insert_one({"_id": "x", **outbox_fields([_event("x")])})
    relay.wake("things", "x")
    with pytest.raises(ConnectionError):
        await relay.sweep()
    # The hint is gone with the failed pass, but the next pass sweeps everything.
    await relay.sweep()
    doc = await db.things.find_one({"_id": "x"})
    assert doc is not None
    assert doc[PENDING] is False


async def test_consumer_handles_redelivered_event_once_and_dead_letters_poison(
    db: AsyncDatabase[Document], js: nats.js.JetStreamContext
) -> None:
    seen: list[str] = []

    async def handler(envelope: Envelope) -> None:
        text = envelope.payload(wrappers_pb2.StringValue).value
        if text == "poison":
            raise PermanentError("cannot handle poison")
        seen.append(text)

    spec = ConsumerSpec(name="test", source_service="demo", handlers={"guild.demo.said.v1": handler})
    consumer = EventConsumer(js, db, spec, max_deliver=3, backoff_seconds=[0.1])
    good = _event("good")
    publisher = JetStreamPublisher(js)
    await publisher.publish(good)
    await publisher.publish(_event("poison"))
    # The same event under a new NATS message id: a redelivery the stream cannot dedupe.
    await js.publish(good.topic, good.data, headers={**good.headers(), "Nats-Msg-Id": "other"})
    task = asyncio.create_task(consumer.run())
    for _ in range(100):
        if await db[DEAD_LETTERS].count_documents({}) and seen:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    consumer.stop()
    await task
    assert seen == ["good"]
    dead = await db[DEAD_LETTERS].find_one({})
    assert dead is not None
    assert dead["error"] == "cannot handle poison"
    assert dead["consumer"] == "test_GUILD_DEMO"


async def test_a_sliced_consumer_reads_its_slice_and_events_about_people(
    db: AsyncDatabase[Document], js: nats.js.JetStreamContext
) -> None:
    seen: list[str] = []

    async def handler(envelope: Envelope) -> None:
        seen.append(envelope.payload(wrappers_pb2.StringValue).value)

    def said(text: str, region: str, programme: str) -> Envelope:
        return new_envelope(
            service="demo",
            name="said",
            payload=wrappers_pb2.StringValue(value=text),
            subject=text,
            region=region,
            programme=programme,
        )

    publisher = JetStreamPublisher(js)
    for event in (
        said("emea-sales", "emea", "sales"),
        said("amer-sales", "amer", "sales"),
        said("profile", "global", "global"),
        said("emea-cpd", "emea", "healthcare_cpd"),
    ):
        await publisher.publish(event)
    spec = ConsumerSpec(
        name="sliced", source_service="demo", handlers={"guild.demo.said.v1": handler}, region="emea"
    )
    consumer = EventConsumer(js, db, spec)
    task = asyncio.create_task(consumer.run())
    for _ in range(100):
        if len(seen) >= 3:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    consumer.stop()
    await task
    assert sorted(seen) == ["emea-cpd", "emea-sales", "profile"]


async def test_an_existing_sliced_durable_is_widened_to_the_global_subjects(
    db: AsyncDatabase[Document], js: nats.js.JetStreamContext
) -> None:
    spec = ConsumerSpec(name="older", source_service="demo", handlers={}, region="emea")
    # What an earlier release created: the slice's own subject only.
    await js.add_consumer(
        "GUILD_DEMO",
        ConsumerConfig(
            durable_name=spec.durable, ack_policy=AckPolicy.EXPLICIT, filter_subject="guild.emea.*.demo.>"
        ),
    )
    await EventConsumer(js, db, spec).subscribe()
    info = await js.consumer_info("GUILD_DEMO", spec.durable)
    assert sorted(info.config.filter_subjects or []) == sorted(spec.filter_subjects)


async def test_a_concurrent_consumer_keeps_each_subjects_order_and_runs_subjects_at_once(
    db: AsyncDatabase[Document], js: nats.js.JetStreamContext
) -> None:
    subjects = [f"s{i}" for i in range(4)]
    order: dict[str, list[int]] = {s: [] for s in subjects}
    running = 0
    most_at_once = 0

    async def handler(envelope: Envelope) -> None:
        nonlocal running, most_at_once
        subject, number = envelope.payload(wrappers_pb2.StringValue).value.split("/")
        running += 1
        most_at_once = max(most_at_once, running)
        await asyncio.sleep(0.02 if int(number) % 2 else 0.001)  # later ones would overtake if allowed
        order[subject].append(int(number))
        running -= 1

    def said(subject: str, number: int) -> Envelope:
        return new_envelope(
            service="demo",
            name="said",
            payload=wrappers_pb2.StringValue(value=f"{subject}/{number}"),
            subject=subject,
            region="emea",
            programme="sales",
        )

    publisher = JetStreamPublisher(js)
    for number in range(10):
        for subject in subjects:
            await publisher.publish(said(subject, number))
    spec = ConsumerSpec(
        name="concurrent", source_service="demo", handlers={"guild.demo.said.v1": handler}, concurrency=4
    )
    consumer = EventConsumer(js, db, spec, batch_size=40)
    task = asyncio.create_task(consumer.run())
    for _ in range(200):
        if sum(len(v) for v in order.values()) == 40:
            break
        await asyncio.sleep(0.05)
    consumer.stop()
    await task
    assert order == {s: list(range(10)) for s in subjects}
    assert most_at_once > 1
    assert await db[PROCESSED].count_documents({}) == 40


async def test_a_full_sweep_publishes_documents_in_the_order_their_events_were_written(
    db: AsyncDatabase[Document], js: nats.js.JetStreamContext
) -> None:
    # The question is written before its answer, in another collection that the relay lists first.
    question = _event("question")
    await asyncio.sleep(0.01)  # event times have millisecond precision
    answer = _event("answer")
    await db.questions.insert_one({"_id": "q", **outbox_fields([question])})
    await db.answers.insert_one({"_id": "a", **outbox_fields([answer])})
    relay = OutboxRelay(db, ["answers", "questions"], JetStreamPublisher(js))
    assert await relay.drain() == 2
    received = await _collect(js, 2)
    assert [e.subject for e in received] == ["question", "answer"]


async def test_named_documents_are_published_in_the_order_they_were_written(
    db: AsyncDatabase[Document], js: nats.js.JetStreamContext
) -> None:
    relay = OutboxRelay(db, ["things"], JetStreamPublisher(js), full_sweep_seconds=3600)
    await relay.sweep()
    names = ["zeta", "alpha", "mid", "beta"]  # an order no sort of the names or ids gives
    for name in names:
        await db.things.insert_one({"_id": name, **outbox_fields([_event(name)])})
        relay.wake("things", name)
    await relay.sweep()
    received = await _collect(js, len(names))
    assert [e.subject for e in received] == names


async def test_a_stream_describes_itself_to_operators(js: nats.js.JetStreamContext) -> None:
    info = await js.stream_info("GUILD_DEMO")
    assert info.config.description is not None
    assert "demo" in info.config.description
    assert "docs/events.md" in info.config.description


async def test_a_consumer_is_durable_and_describes_itself(
    db: AsyncDatabase[Document], js: nats.js.JetStreamContext
) -> None:
    spec = ConsumerSpec(name="notify", source_service="demo", handlers={"guild.demo.said.v1": _ignore})
    consumer = EventConsumer(js, db, spec)
    await consumer.subscribe()
    info = await js.consumer_info("GUILD_DEMO", "notify_GUILD_DEMO")
    assert info.config.durable_name == "notify_GUILD_DEMO"
    assert info.config.description == "guild notify: handles guild.demo.said.v1"


async def _ignore(envelope: Envelope) -> None:
    return None


async def test_a_failing_handler_is_logged_with_its_traceback(
    db: AsyncDatabase[Document], js: nats.js.JetStreamContext
) -> None:
    async def handler(envelope: Envelope) -> None:
        raise ValueError("bad payload")

    spec = ConsumerSpec(name="tb", source_service="demo", handlers={"guild.demo.said.v1": handler})
    consumer = EventConsumer(js, db, spec, max_deliver=2, backoff_seconds=[0.05])
    await JetStreamPublisher(js).publish(_event("x"))
    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(consumer.run())
        for _ in range(100):
            if await db[DEAD_LETTERS].count_documents({}):
                break
            await asyncio.sleep(0.05)
        consumer.stop()
        await task
    failures = [e for e in logs if e["event"].startswith("handler failed")]
    assert [e["log_level"] for e in failures] == ["warning", "error"]
    assert all(isinstance(e["exc_info"], ValueError) for e in failures)


async def test_an_event_claiming_another_source_is_dead_lettered_not_handled(
    db: AsyncDatabase[Document], js: nats.js.JetStreamContext
) -> None:
    seen: list[str] = []

    async def handler(envelope: Envelope) -> None:
        seen.append(envelope.payload(wrappers_pb2.StringValue).value)

    spec = ConsumerSpec(name="checks", source_service="demo", handlers={"guild.demo.said.v1": handler})
    consumer = EventConsumer(js, db, spec, max_deliver=3, backoff_seconds=[0.1])
    forged = _event("forged")
    headers = {**forged.headers(), "ce-source": "/guild/community"}
    await js.publish(forged.topic, forged.data, headers=headers)
    await JetStreamPublisher(js).publish(_event("genuine"))
    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(consumer.run())
        for _ in range(100):
            if await db[DEAD_LETTERS].count_documents({}) and seen:
                break
            await asyncio.sleep(0.05)
        consumer.stop()
        await task
    assert seen == ["genuine"]
    dead = await db[DEAD_LETTERS].find_one({})
    assert dead is not None
    assert dead["event_id"] == forged.id
    assert "/guild/community" in dead["error"]
    assert any(line["event"] == "event dead-lettered" for line in logs)
