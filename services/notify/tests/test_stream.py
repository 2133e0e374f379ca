"""StreamNotifications: live delivery and resumption after a reconnect without loss or duplicates."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import TypeAlias

import grpc
import pytest
from pymongo import AsyncMongoClient
from services.notify.tests.support import Events, wait_for_inbox

from guild.events.v1 import content_events_pb2 as content
from guild.notify.v1 import notify_service_pb2 as api
from guild.notify.v1 import notify_service_pb2_grpc as api_grpc
from guild_common.clock import utc_now
from guild_common.mongo import Document, ensure_indexes
from guild_common.settings import ServiceSettings
from guild_notify.adapters.mongo_inbox import INDEXES, SEQUENCE_INDEXES, MongoInbox
from guild_notify.bootstrap import build
from guild_notify.config import NotifySettings
from guild_notify.domain.model import Notification, new_answer
from guild_testing.fixtures import Infra, auth, database_name
from guild_testing.inprocess import running_service

StreamCall: TypeAlias = (
    "grpc.aio.UnaryStreamCall[api.StreamNotificationsRequest, api.StreamNotificationsResponse]"
)


def _posted(answerer: str, answer_id: str) -> content.AnswerPosted:
    return content.AnswerPosted(
        answer_id=answer_id,
        question_id="q1",
        community_id="c1",
        author_id=answerer,
        question_author_id="ann",
        question_title="How do I book leave?",
    )


async def _open(stub: api_grpc.NotifyServiceStub, who: str, token: str = "") -> StreamCall:
    call: StreamCall = stub.StreamNotifications(
        api.StreamNotificationsRequest(resume_token=token), metadata=auth(who)
    )
    await asyncio.wait_for(call.initial_metadata(), timeout=10)  # the stream is live from here on
    return call


async def _next(call: StreamCall) -> api.StreamNotificationsResponse:
    response = await asyncio.wait_for(call.read(), timeout=10)
    assert isinstance(response, api.StreamNotificationsResponse)
    return response


async def test_stream_is_live_and_resumes_without_loss_or_duplicates(
    stub: api_grpc.NotifyServiceStub, events: Events
) -> None:
    await events.emit("content", "answer_posted", _posted("bob", "a1"))
    await wait_for_inbox(stub, "ann", 1)

    live = await _open(stub, "ann")  # no token: only what arrives from now on
    other = await _open(stub, "zed")
    cat = await events.emit("content", "answer_posted", _posted("cat", "a2"))
    await events.emit("content", "answer_posted", _posted("dan", "a3"))
    first, second = await _next(live), await _next(live)
    assert [(r.notification.actor_id, r.notification.sequence) for r in (first, second)] == [
        ("cat", 2),
        ("dan", 3),
    ]
    live.cancel()

    # Disconnected: more arrive, and one event is delivered again.
    await events.emit("content", "answer_posted", _posted("eve", "a4"))
    await events.redeliver(cat, "again")
    await events.emit("content", "answer_posted", _posted("fay", "a5"))
    await wait_for_inbox(stub, "ann", 5)

    resumed = await _open(stub, "ann", second.resume_token)
    await events.emit("content", "answer_posted", _posted("gus", "a6"))
    received = [await _next(resumed) for _ in range(3)]
    assert [(r.notification.actor_id, r.notification.sequence) for r in received] == [
        ("eve", 4),
        ("fay", 5),
        ("gus", 6),
    ]
    # From an older token the same notifications come again in the same order: a client that lost
    # its place can always re-read.
    again = await _open(stub, "ann", first.resume_token)
    assert [(await _next(again)).notification.actor_id for _ in range(4)] == ["dan", "eve", "fay", "gus"]
    for call in (resumed, again):
        call.cancel()

    # Nothing of ann's reached another member's stream.
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(other.read(), timeout=0.3)
    other.cancel()


async def test_a_bad_resume_token_is_invalid(stub: api_grpc.NotifyServiceStub) -> None:
    call = stub.StreamNotifications(api.StreamNotificationsRequest(resume_token="!!"), metadata=auth("ann"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call.read()
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_sequences_stay_contiguous_under_concurrent_and_repeated_inserts(
    infra: Infra, request: pytest.FixtureRequest
) -> None:
    client: AsyncMongoClient[Document] = AsyncMongoClient(infra.mongo_uri, tz_aware=True)
    try:
        db = client[database_name(request.node.name)]
        await ensure_indexes(db, [*INDEXES, *SEQUENCE_INDEXES])
        inbox = MongoInbox(db)
        notes: list[Notification] = []
        for i in range(20):
            note = new_answer(
                event_id=f"e{i}",
                question_id=f"q{i % 3}",
                question_title="t",
                question_author="ann",
                answer_author=f"p{i}",
                community_id="c1",
                time=utc_now(),
            )
            assert note is not None
            notes.append(note)
        results = await asyncio.gather(*(inbox.add(n) for n in [*notes, *notes[:7]]))
        stored = [r for r in results if r is not None]
        assert sorted(r.sequence for r in stored) == list(range(1, 21))
        assert await inbox.last_sequence("ann") == 20
        groups, _ = await inbox.groups("ann", False, 10, "")
        assert sorted(g.total_count for g in groups) == [6, 7, 7]
        assert [n.sequence for n in await inbox.after("ann", 17, 10)] == [18, 19, 20]
    finally:
        await client.close()


async def test_notifications_stored_before_sequences_are_numbered_at_start(
    settings_for: Callable[..., ServiceSettings], events: Events
) -> None:
    settings = settings_for(NotifySettings)
    client: AsyncMongoClient[Document] = AsyncMongoClient(settings.mongo_uri, tz_aware=True)
    try:
        legacy = client[settings.database_name]["notifications"]
        start = utc_now()
        for i in range(3):
            await legacy.insert_one(
                {
                    "_id": f"old{i}:ann:new_answer",
                    "recipient_id": "ann",
                    "type": "new_answer",
                    "community_id": "c1",
                    "subject_id": "q1",
                    "actor_id": f"p{i}",
                    "text": "old",
                    "create_time": start - timedelta(minutes=3 - i),
                    "read": False,
                }
            )
    finally:
        await client.close()
    async with running_service(settings, build) as running:
        stub = api_grpc.NotifyServiceStub(running.channel)
        await events.emit("content", "answer_posted", _posted("new", "a9"))
        inbox = await wait_for_inbox(stub, "ann", 4)
        assert [(n.actor_id, n.sequence) for n in inbox.notifications] == [
            ("new", 4),
            ("p2", 3),
            ("p1", 2),
            ("p0", 1),
        ]
        groups = await stub.ListNotificationGroups(api.ListNotificationGroupsRequest(), metadata=auth("ann"))
        assert [(g.subject_id, g.total_count) for g in groups.groups] == [("q1", 4)]
