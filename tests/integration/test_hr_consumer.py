"""The integrators' examples (examples/) against the whole suite after a live scenario.

The suite runs as processes; a community is created, two people join, one asks, the other answers and
the asker accepts. Then, each as a separate process:

- the reference HR consumer (examples/hr_consumer) prints each membership and points event as a JSON
  line with its CloudEvents attributes and its decoded protobuf data; a second run under the same
  durable name prints nothing again, because what was acknowledged stays acknowledged;
- the SDK example (examples/sdk_call.py) lists communities with a token, and fails with a bad one;
- the dead-letter replay (examples/replay_dead_letter.py) republishes a dead letter so that the
  consumer that gave up handles it, and the others skip it.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
import pytest
import pytest_asyncio
from nats.js.api import DeliverPolicy
from pymongo import AsyncMongoClient
from tests.integration.harness import SuiteProcesses, parse_log_lines, spawn

from guild.community.v1 import community_service_pb2 as community_api
from guild.community.v1 import community_service_pb2_grpc as community_grpc
from guild.content.v1 import content_service_pb2 as content_api
from guild.content.v1 import content_service_pb2_grpc as content_grpc
from guild_testing.fixtures import Infra, auth, token_for
from guild_testing.processes import ManagedProcess

ROOT = Path(__file__).resolve().parents[2]
CONSUMER = ROOT / "examples" / "hr_consumer" / "hr_consumer.py"

Event = dict[str, Any]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def community_id(suite: SuiteProcesses) -> str:
    """Create, join, ask, answer, accept: the events an HR system cares about follow."""
    community = community_grpc.CommunityServiceStub(suite.channel("community"))
    content = content_grpc.ContentServiceStub(suite.channel("content"))
    created = await community.CreateCommunity(
        community_api.CreateCommunityRequest(
            name="Graduate engineers", slug="graduate-engineers", programme="graduates", region="amer"
        ),
        metadata=auth("hana"),
    )
    cid = created.community.id
    for person in ("ivan", "jade"):
        await community.JoinCommunity(
            community_api.JoinCommunityRequest(community_id=cid), metadata=auth(person)
        )
    question = await content.AskQuestion(
        content_api.AskQuestionRequest(community_id=cid, title="Where is the on-call rota?", tags=["oncall"]),
        metadata=auth("ivan"),
    )
    answer = await content.AnswerQuestion(
        content_api.AnswerQuestionRequest(question_id=question.question.id, body="In the team wiki."),
        metadata=auth("jade"),
    )
    await content.AcceptAnswer(
        content_api.AcceptAnswerRequest(question_id=question.question.id, answer_id=answer.answer.id),
        metadata=auth("ivan"),
    )
    return str(cid)


def start_consumer(infra: Infra, log: Path, *args: str) -> ManagedProcess:
    return spawn(
        "hr_consumer",
        [sys.executable, str(CONSUMER), "--nats", infra.nats_url, *args],
        log_path=log,
        env={"PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1"},
    )


def read(log: Path) -> str:
    return log.read_text(errors="replace") if log.exists() else ""


async def wait_for_events(
    log: Path, done: Callable[[list[Event]], bool], process: ManagedProcess, timeout: float = 30.0
) -> list[Event]:
    deadline = time.monotonic() + timeout
    while True:
        events = parse_log_lines(await asyncio.to_thread(read, log))
        if done(events):
            return events
        if process.process.poll() is not None or time.monotonic() > deadline:
            text = await asyncio.to_thread(read, log)
            raise AssertionError(f"consumer output incomplete after {timeout}s:\n{text[-4000:]}")
        await asyncio.sleep(0.2)


def of_type(events: list[Event], suffix: str) -> list[Event]:
    return [e for e in events if e.get("type", "").endswith(suffix)]


async def stop(process: ManagedProcess) -> int:
    process.signal(signal.SIGTERM)
    return await asyncio.to_thread(process.process.wait, 15)


@pytest.mark.timeout(120)
async def test_hr_consumer_prints_decoded_membership_and_points_events(
    infra: Infra, suite: SuiteProcesses, community_id: str, tmp_path: Path
) -> None:
    log = tmp_path / "hr_consumer.out"
    process = start_consumer(infra, log, "--name", "hr_test", "--region", "amer")

    def complete(events: list[Event]) -> bool:
        joined = {e["data"]["member_id"] for e in of_type(events, ".member_joined.v1")}
        earners = {e["data"]["member_id"] for e in of_type(events, ".points_changed.v1")}
        return {"ivan", "jade"} <= joined and "jade" in earners

    try:
        events = await wait_for_events(log, complete, process)
    finally:
        code = await stop(process)
    assert code == 0

    joined = [e for e in of_type(events, ".member_joined.v1") if e["data"]["member_id"] == "jade"]
    assert len(joined) == 1
    event = joined[0]
    assert event["type"] == "guild.community.member_joined.v1"
    assert event["source"] == "/guild/community"
    assert event["dataschema"] == "urn:guild:proto:guild.events.v1.MemberJoined"
    assert (event["region"], event["programme"]) == ("amer", "graduates")
    assert event["topic"] == "guild.amer.graduates.community.member_joined"
    assert event["id"]
    assert event["time"].endswith("Z")
    assert event["data"]["community_id"] == community_id
    assert event["data"]["role"] == "member"
    assert event["data"]["join_time"].endswith("Z")

    points = [e for e in of_type(events, ".points_changed.v1") if e["data"]["member_id"] == "jade"]
    assert points
    for entry in points:
        assert entry["type"] == "guild.reputation.points_changed.v1"
        assert entry["dataschema"] == "urn:guild:proto:guild.events.v1.PointsChanged"
        assert entry["data"]["community_id"] == community_id
        assert entry["data"]["rule"]
        assert entry["data"]["source_event_id"]
    assert sum(int(e["data"]["amount"]) for e in points) > 0
    # Region filter: nothing from another region's subjects.
    assert all(e["topic"].startswith("guild.amer.") for e in events)

    # The same durable again: everything acknowledged stays acknowledged.
    again_log = tmp_path / "hr_consumer_again.out"
    again = start_consumer(infra, again_log, "--name", "hr_test", "--region", "amer", "--exit-when-idle", "2")
    code = await asyncio.to_thread(again.process.wait, 30)
    assert code == 0
    ids = {e["id"] for e in events}
    repeated = [e for e in parse_log_lines(await asyncio.to_thread(read, again_log)) if e.get("id") in ids]
    assert repeated == []


SDK_CALL = ROOT / "examples" / "sdk_call.py"


async def run_sdk_call(suite: SuiteProcesses, tmp_path: Path, token: str) -> tuple[int, str]:
    log = tmp_path / f"sdk_call_{token[-6:]}.out"
    process = spawn(
        "sdk_call",
        [
            sys.executable,
            str(SDK_CALL),
            "--target",
            suite.address("community"),
            "--token",
            token,
            "--region",
            "amer",
        ],
        log_path=log,
        env={"PATH": "/usr/bin:/bin"},
    )
    code = await asyncio.to_thread(process.process.wait, 30)
    return code, await asyncio.to_thread(read, log)


async def test_sdk_example_lists_communities_with_a_token(
    suite: SuiteProcesses, community_id: str, tmp_path: Path
) -> None:
    code, output = await run_sdk_call(suite, tmp_path, token_for("ivan"))
    assert code == 0, output
    listed = parse_log_lines(output)
    assert community_id in {c["id"] for c in listed}
    assert all(c["region"] == "amer" for c in listed)

    code, output = await run_sdk_call(suite, tmp_path, "not-a-token")
    assert code == 1
    assert "UNAUTHENTICATED" in output


REPLAY = ROOT / "examples" / "replay_dead_letter.py"


async def test_a_dead_letter_is_replayed_to_the_consumer_that_gave_up_on_it(
    infra: Infra, suite: SuiteProcesses, community_id: str, tmp_path: Path
) -> None:
    """notify gives up on an answer_posted (simulated as the consumer records it); the replay tool
    publishes it again: notify handles it, reputation skips it as a duplicate, nothing is doubled."""
    nc = await nats.connect(infra.nats_url)
    try:
        js = nc.jetstream()
        subscription = await js.pull_subscribe(
            "guild.amer.graduates.content.answer_posted", stream="GUILD_CONTENT"
        )
        (message,) = await subscription.fetch(1, timeout=5)
        await subscription.unsubscribe()
    finally:
        await nc.close()
    headers = dict(message.headers or {})
    event_id = headers["ce-id"]
    consumer = "notify_GUILD_CONTENT"
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(infra.mongo_uri)
    try:
        db = mongo[suite.database("notify")]
        deadline = time.monotonic() + 20
        while await db.processed_events.find_one({"_id": f"{consumer}:{event_id}"}) is None:
            assert time.monotonic() < deadline, "notify never handled the answer"
            await asyncio.sleep(0.1)
        # What EventConsumer._dead_letter stores, as if the handler had failed every attempt.
        await db.processed_events.delete_one({"_id": f"{consumer}:{event_id}"})
        await db.dead_letters.insert_one(
            {
                "consumer": consumer,
                "topic": message.subject,
                "headers": headers,
                "data": message.data,
                "event_id": event_id,
                "event_type": headers["ce-type"],
                "error": "RuntimeError('smtp down')",
                "attempts": 6,
                "at": datetime.now(UTC),
            }
        )
        notify_offset = suite.log_offset("notify")
        reputation_offset = suite.log_offset("reputation")

        log = tmp_path / "replay.out"
        options = ["--mongo-uri", infra.mongo_uri, "--nats", infra.nats_url, "--event-id", event_id]
        process = spawn(
            "replay",
            [sys.executable, str(REPLAY), "--database", suite.database("notify"), *options],
            log_path=log,
            env={"PATH": "/usr/bin:/bin"},
        )
        code = await asyncio.to_thread(process.process.wait, 30)
        assert code == 0, await asyncio.to_thread(read, log)

        def about(outcome: str, durable: str) -> Callable[[dict[str, Any]], bool]:
            return lambda line: (
                line.get("event_id") == event_id
                and line.get("consumer") == durable
                and line.get("outcome") == outcome
            )

        await suite.wait_for_log("notify", about("handled", consumer), since=notify_offset, timeout=20)
        await suite.wait_for_log(
            "reputation", about("duplicate", "reputation_GUILD_CONTENT"), since=reputation_offset, timeout=20
        )
        assert await db.dead_letters.count_documents({"event_id": event_id}) == 0
        assert await db.processed_events.find_one({"_id": f"{consumer}:{event_id}"}) is not None
    finally:
        await mongo.close()


async def settled(infra: Infra, streams: tuple[str, ...], timeout: float = 20.0) -> None:
    """Wait until the streams' message counts stop changing (the scenario's events are all stored)."""
    nc = await nats.connect(infra.nats_url)
    try:
        js = nc.jetstream()
        deadline = time.monotonic() + timeout
        last: list[int] = []
        stable = 0
        while stable < 4:
            counts = [(await js.stream_info(name)).state.messages for name in streams]
            stable = stable + 1 if counts == last and all(counts) else 0
            last = counts
            assert time.monotonic() < deadline, f"streams still changing: {counts}"
            await asyncio.sleep(0.5)
    finally:
        await nc.close()


async def test_hr_consumer_since_starts_a_new_durable_at_that_time(
    infra: Infra, suite: SuiteProcesses, community_id: str, tmp_path: Path
) -> None:
    """``--since`` creates the durable with deliver-by-start-time: nothing stored earlier is delivered."""
    await settled(infra, ("GUILD_COMMUNITY", "GUILD_REPUTATION"))
    log = tmp_path / "hr_since.out"
    since = datetime.now(UTC)
    process = start_consumer(
        infra, log, "--name", "hr_since", "--since", since.isoformat(), "--exit-when-idle", "2"
    )
    code = await asyncio.to_thread(process.process.wait, 30)
    output = await asyncio.to_thread(read, log)
    assert code == 0, output
    assert "consuming GUILD_COMMUNITY, GUILD_REPUTATION" in output
    assert parse_log_lines(output) == []

    nc = await nats.connect(infra.nats_url)
    try:
        info = await nc.jetstream().consumer_info("GUILD_COMMUNITY", "hr_since_GUILD_COMMUNITY")
    finally:
        await nc.close()
    assert info.config.deliver_policy == DeliverPolicy.BY_START_TIME
