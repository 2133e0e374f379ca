"""xAPI statements delivered to Learning Record Stores on loopback: once per event, with Basic auth and the
version header, retried then dead-lettered, one store down holding up no other, opt-outs; and claims
that two replicas never share."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest_asyncio
from google.protobuf.field_mask_pb2 import FieldMask
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from services.notify.tests.support import Events
from services.notify.tests.test_xapi_statements import validate

from guild.events.v1 import community_events_pb2 as community
from guild.events.v1 import content_events_pb2 as content
from guild.notify.v1 import notification_pb2 as pb
from guild.notify.v1 import notify_service_pb2 as api
from guild.notify.v1 import notify_service_pb2_grpc as api_grpc
from guild_common.clock import utc_now
from guild_common.events.envelope import Envelope
from guild_common.mongo import Document
from guild_common.settings import ServiceSettings
from guild_notify.adapters.lrs_client import HttpxStatementSender
from guild_notify.adapters.xapi_store import STATEMENTS, MongoStatementQueue
from guild_notify.app.xapi import StatementDelivery
from guild_notify.bootstrap import build
from guild_notify.config import NotifySettings
from guild_notify.domain.xapi import Endpoint, Outcome, StatementState, statement_id
from guild_testing.fixtures import auth
from guild_testing.inprocess import running_service
from guild_testing.lrs import Lrs, lrs_server


@dataclass
class Notify:
    stub: api_grpc.NotifyServiceStub
    db: AsyncDatabase[Document]

    async def statements(self) -> list[Document]:
        return [d async for d in self.db[STATEMENTS].find({}).sort([("_id", 1)])]

    async def wait_for_state(self, queued_id: str, state: StatementState, timeout: float = 10.0) -> Document:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            doc = await self.db[STATEMENTS].find_one({"_id": queued_id})
            if doc is not None and doc["state"] == state.value:
                return doc
            assert asyncio.get_running_loop().time() < deadline, f"{queued_id}: {doc}"
            await asyncio.sleep(0.05)


NotifyFactory = Callable[..., Any]


@pytest_asyncio.fixture
async def notify(settings_for: Callable[..., ServiceSettings], events: Events) -> NotifyFactory:
    """Starts notify with the given xAPI settings (one service per test)."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[Notify]:
        settings = settings_for(
            NotifySettings,
            xapi_homepage="https://learning.example.com",
            xapi_retry_base_seconds=0.2,
            xapi_retry_max_seconds=0.4,
            xapi_sweep_seconds=0.5,
            **overrides,
        )
        client: AsyncMongoClient[Document] = AsyncMongoClient(settings.mongo_uri, tz_aware=True)
        try:
            async with running_service(settings, build) as running:
                yield Notify(api_grpc.NotifyServiceStub(running.channel), client[settings.mongo_db])
        finally:
            await client.close()

    return start


def _question(question_id: str, author_id: str = "ann", community_id: str = "c1") -> content.QuestionAsked:
    return content.QuestionAsked(
        question_id=question_id, community_id=community_id, author_id=author_id, title=f"About {question_id}"
    )


async def _ask(events: Events, question_id: str, **kw: str) -> Envelope:
    return await events.emit("content", "question_asked", _question(question_id, **kw))


async def test_each_statement_arrives_once_with_basic_auth_and_the_version_header(
    notify: NotifyFactory, events: Events
) -> None:
    with lrs_server("lrs", username="guild", password="pa:ss wörd") as lrs:
        async with notify(xapi_endpoints=[lrs.endpoint("guild", "pa:ss wörd")]) as service:
            asked = await _ask(events, "q1")
            answered = await events.emit(
                "content",
                "answer_posted",
                content.AnswerPosted(answer_id="a1", question_id="q1", community_id="c1", author_id="bob"),
            )
            joined = await events.emit(
                "community", "member_joined", community.MemberJoined(community_id="c1", member_id="cy")
            )
            await lrs.wait_for(3)
            # the same events again, past JetStream's dedupe, and after them one more on each stream
            await events.redeliver(asked, "again-1")
            await events.redeliver(joined, "again-2")
            later = await _ask(events, "q2")
            await events.emit(
                "community", "member_joined", community.MemberJoined(community_id="c2", member_id="cy")
            )
            stored = await lrs.wait_for(5)
            await asyncio.sleep(0.5)

            expected = {statement_id(e.id) for e in (asked, answered, joined, later)}
            assert expected <= set(stored)
            assert len(stored) == 5
            posted = [
                s["id"] for r in lrs.requests if r["path"] == "/xapi/statements" for s in r["statements"]
            ]
            assert sorted(posted) == sorted(stored), "each statement was sent once"
            docs = await service.statements()
            assert len(docs) == 5
            assert {d["_id"] for d in docs} == {f"lrs:{i}" for i in stored}
            assert {d["state"] for d in docs} == {"sent"}
            for request in lrs.requests:
                headers = request["headers"]
                assert headers["x-experience-api-version"] == "1.0.3"
                assert headers["content-type"] == "application/json"
                credentials = base64.b64encode("guild:pa:ss wörd".encode()).decode()
                assert headers["authorization"] == f"Basic {credentials}"
            assert validate(list(stored.values())) == [[] for _ in stored]
            question = stored[statement_id(asked.id)]
            assert question["actor"]["account"] == {"homePage": "https://learning.example.com", "name": "ann"}


async def test_a_failing_store_is_retried_then_the_statement_is_dead_lettered(
    notify: NotifyFactory, events: Events
) -> None:
    with lrs_server("down") as lrs:
        lrs.status = 503
        async with notify(xapi_endpoints=[lrs.endpoint()], xapi_max_attempts=3) as service:
            asked = await _ask(events, "q1")
            queued = f"down:{statement_id(asked.id)}"
            dead = await service.wait_for_state(queued, StatementState.DEAD)
            assert (dead["attempts"], dead["last_error"]) == (3, "HTTP 503")
            assert len(lrs.requests) == 3
            gaps = [b - a for a, b in zip(_times(lrs), _times(lrs)[1:], strict=False)]
            assert all(g >= 0.15 for g in gaps), f"retries back off: {gaps}"
            await asyncio.sleep(1.0)
            assert len(lrs.requests) == 3, "a dead statement is not sent again"
            # a store answering again takes new statements
            lrs.status = 200
            later = await _ask(events, "q2")
            await lrs.wait_for(1)
            assert set(lrs.stored) == {statement_id(later.id)}


def _times(lrs: Lrs) -> list[float]:
    return [r["at"] for r in lrs.requests]


async def test_one_store_down_holds_up_no_other(notify: NotifyFactory, events: Events) -> None:
    with lrs_server("slow") as slow, lrs_server("up") as up:
        slow.delay = 6.0  # never answers within the time limit
        async with notify(
            xapi_endpoints=[slow.endpoint(), up.endpoint()], xapi_timeout_seconds=1.5, xapi_max_attempts=20
        ) as service:
            started = asyncio.get_running_loop().time()
            asked = [await _ask(events, f"q{i}") for i in range(3)]
            await up.wait_for(3, timeout=3.0)
            assert asyncio.get_running_loop().time() - started < 3.0
            assert set(up.stored) == {statement_id(e.id) for e in asked}
            # the slow store's statements wait in its own queue, and arrive once it recovers
            slow.delay = 0.0
            await slow.wait_for(3, timeout=15.0)
            docs = await service.statements()
            assert [d["state"] for d in docs] == ["sent"] * 6


async def test_opted_out_members_and_excluded_communities_are_never_recorded(
    notify: NotifyFactory, events: Events
) -> None:
    with lrs_server("lrs") as lrs:
        async with notify(
            xapi_endpoints=[lrs.endpoint()], xapi_excluded_communities="c-private, c-hr"
        ) as service:
            mask = FieldMask(paths=["learning_records_opt_out"])
            response = await service.stub.UpdatePreferences(
                api.UpdatePreferencesRequest(
                    preferences=pb.Preferences(learning_records_opt_out=True), update_mask=mask
                ),
                metadata=auth("quiet"),
            )
            assert response.preferences.learning_records_opt_out
            await _ask(events, "q1", author_id="quiet")
            await _ask(events, "q2", author_id="ann", community_id="c-private")
            await events.emit(
                "community", "member_joined", community.MemberJoined(community_id="c-hr", member_id="ann")
            )
            marker = await _ask(events, "q3", author_id="ann")
            await lrs.wait_for(1)
            await asyncio.sleep(0.5)
            assert set(lrs.stored) == {statement_id(marker.id)}
            assert [d["statement_id"] for d in await service.statements()] == [statement_id(marker.id)]
            # opting back in records what comes next
            await service.stub.UpdatePreferences(
                api.UpdatePreferencesRequest(preferences=pb.Preferences(), update_mask=mask),
                metadata=auth("quiet"),
            )
            back = await _ask(events, "q4", author_id="quiet")
            await lrs.wait_for(2)
            assert statement_id(back.id) in lrs.stored


async def test_two_replicas_of_notify_send_each_statement_once(
    settings_for: Callable[..., ServiceSettings], events: Events
) -> None:
    with lrs_server("lrs") as lrs:
        settings = settings_for(
            NotifySettings, xapi_endpoints=[lrs.endpoint()], xapi_batch_size=5, xapi_sweep_seconds=0.2
        )
        async with running_service(settings, build), running_service(settings, build):
            asked = [await _ask(events, f"q{i}") for i in range(40)]
            await lrs.wait_for(40, timeout=20.0)
            await asyncio.sleep(0.5)
        posted = [s["id"] for r in lrs.requests for s in r["statements"]]
        assert sorted(posted) == sorted(statement_id(e.id) for e in asked), "each sent once, by one replica"


async def test_no_endpoint_configured_records_nothing(notify: NotifyFactory, events: Events) -> None:
    async with notify() as service:
        await _ask(events, "q1")
        await asyncio.sleep(0.5)
        assert await service.statements() == []


# -- the queue on two replicas ----------------------------------------------------------------------


async def test_two_replicas_never_claim_the_same_statement(dbs: list[AsyncDatabase[Document]]) -> None:
    queues = [MongoStatementQueue(db) for db in dbs]
    now = utc_now()
    for i in range(120):
        await queues[0].enqueue(["a", "b"], f"s{i:03}", "{}", now)
    assert await queues[1].enqueue(["a", "b"], "s000", "{}", now) == 0, "queued once per endpoint"

    async def replica(queue: MongoStatementQueue) -> list[str]:
        claimed: list[str] = []
        for _ in range(10):
            batch = await queue.claim("a", utc_now(), 20, timedelta(seconds=30))
            claimed += [s.id for s in batch]
        return claimed

    # several claims at once on each replica, racing for the same due statements
    claims = await asyncio.gather(*(replica(queues[i % 2]) for i in range(6)))
    ids = [i for claim in claims for i in claim]
    assert len(ids) == len(set(ids)), "no statement claimed twice"
    assert len(ids) == 120
    assert all(i.startswith("a:") for i in ids)
    assert len(await queues[1].claim("b", utc_now(), 50, timedelta(seconds=30))) == 50


async def test_a_lease_that_runs_out_lets_another_replica_send(dbs: list[AsyncDatabase[Document]]) -> None:
    first, second = (MongoStatementQueue(db) for db in dbs)
    await first.enqueue(["a"], "s1", "{}", utc_now())
    [held] = await first.claim("a", utc_now(), 50, timedelta(seconds=0.3))
    assert await second.claim("a", utc_now(), 50, timedelta(seconds=30)) == []
    await asyncio.sleep(0.4)  # the first replica died mid-batch
    [taken] = await second.claim("a", utc_now(), 50, timedelta(seconds=30))
    assert taken.id == held.id
    assert taken.lease != held.lease
    # the first replica's late outcome no longer counts; the holder's does
    now = utc_now()
    await first.settle([Outcome(held, StatementState.DEAD, 1, now, "late")], now)
    await second.settle([Outcome(taken, StatementState.SENT, 1, now)], now)
    doc = await dbs[0][STATEMENTS].find_one({"_id": "a:s1"})
    assert doc is not None
    assert (doc["state"], doc["last_error"]) == ("sent", "")
    assert await first.next_due("a") is None


# -- one endpoint's worker against the store on loopback -----------------------------------------------


@asynccontextmanager
async def _worker(
    db: AsyncDatabase[Document], lrs: Lrs, *statement_ids: str
) -> AsyncIterator[tuple[StatementDelivery, MongoStatementQueue]]:
    queue = MongoStatementQueue(db)
    for sid in statement_ids:
        await queue.enqueue([lrs.name], sid, json.dumps({"id": sid}), utc_now())
    sender = HttpxStatementSender(5.0)
    try:
        yield (
            StatementDelivery(
                Endpoint(lrs.name, lrs.url),
                queue,
                sender,
                max_attempts=3,
                retry_base_seconds=0.3,
                retry_max_seconds=0.3,
                lease_seconds=10.0,
            ),
            queue,
        )
    finally:
        await sender.aclose()


async def _states(db: AsyncDatabase[Document]) -> dict[str, tuple[str, int]]:
    return {d["statement_id"]: (d["state"], d["attempts"]) async for d in db[STATEMENTS].find({})}


async def test_a_batch_the_store_refuses_whole_is_sent_one_by_one(dbs: list[AsyncDatabase[Document]]) -> None:
    with lrs_server("lrs") as lrs:
        async with _worker(dbs[0], lrs, "s1", "s2", "s3", "s4") as (delivery, _):
            lrs.stored["s2"] = {"id": "s2"}  # sent before, but the answer was lost
            lrs.refused.add("s3")  # a statement the store cannot take
            assert await delivery.sweep() is False
            assert [len(r["statements"]) for r in lrs.requests] == [4, 1, 1, 1, 1]
            assert set(lrs.stored) == {"s1", "s2", "s4"}
            assert await _states(dbs[0]) == {
                "s1": ("sent", 1),
                "s2": ("sent", 1),  # the store holds it: 409 on its own counts as sent
                "s3": ("dead", 1),  # 400 on its own: retrying cannot help
                "s4": ("sent", 1),
            }


async def test_a_failing_endpoint_rests_before_its_next_batch(dbs: list[AsyncDatabase[Document]]) -> None:
    with lrs_server("lrs") as lrs:
        lrs.status = 503
        async with _worker(dbs[0], lrs, "s1") as (delivery, queue):
            assert await delivery.sweep() is False
            assert await delivery.sweep() is False
            assert len(lrs.requests) == 1, "resting: no second request at once"
            rest = await delivery.seconds_until_due()
            assert rest is not None
            assert 0 < rest <= 0.3
            lrs.status = 200
            await asyncio.sleep(0.35)
            assert await delivery.sweep() is False
            assert set(lrs.stored) == {"s1"}
            assert await _states(dbs[0]) == {"s1": ("sent", 2)}
            assert await queue.next_due("lrs") is None
