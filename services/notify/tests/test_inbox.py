"""The in-app inbox over gRPC, fed by content events on real FerretDB and NATS."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import grpc
import nats
import pytest
import pytest_asyncio
from google.protobuf.message import Message

from guild.events.v1 import content_events_pb2 as events
from guild.notify.v1 import notification_pb2 as pb
from guild.notify.v1 import notify_service_pb2 as api
from guild.notify.v1 import notify_service_pb2_grpc as api_grpc
from guild_common.events.envelope import Envelope, new_envelope
from guild_common.events.publisher import JetStreamPublisher
from guild_common.events.streams import ensure_stream, stream_config
from guild_common.settings import ServiceSettings
from guild_notify.bootstrap import build
from guild_notify.config import NotifySettings
from guild_testing.fixtures import Infra, auth
from guild_testing.inprocess import RunningService, running_service


@pytest_asyncio.fixture
async def js(infra: Infra, clean_streams: None) -> AsyncIterator[nats.js.JetStreamContext]:
    nc = await nats.connect(infra.nats_url)
    await ensure_stream(
        nc.jetstream(), stream_config("content", max_age_days=7, duplicate_window_seconds=300)
    )
    yield nc.jetstream()
    await nc.close()


@pytest_asyncio.fixture
async def service(settings_for: Callable[..., ServiceSettings], js: object) -> AsyncIterator[RunningService]:
    async with running_service(settings_for(NotifySettings), build) as running:
        yield running


async def _emit(js: nats.js.JetStreamContext, name: str, payload: Message) -> Envelope:
    envelope = new_envelope(
        service="content", name=name, payload=payload, subject="s", region="emea", programme="sales"
    )
    await JetStreamPublisher(js).publish(envelope)
    return envelope


def _posted(answerer: str = "bob", asker: str = "ann", answer_id: str = "a1") -> events.AnswerPosted:
    return events.AnswerPosted(
        answer_id=answer_id,
        question_id="q1",
        community_id="c1",
        author_id=answerer,
        question_author_id=asker,
        question_title="How do I book leave?",
    )


async def _inbox(
    stub: api_grpc.NotifyServiceStub, who: str, count: int, **kw: object
) -> api.ListNotificationsResponse:
    for _ in range(100):
        response: api.ListNotificationsResponse = await stub.ListNotifications(
            api.ListNotificationsRequest(**kw),  # type: ignore[arg-type]
            metadata=auth(who),
        )
        if len(response.notifications) >= count:
            return response
        await asyncio.sleep(0.05)
    raise AssertionError(f"{who} has {len(response.notifications)} notifications, expected {count}")


async def test_asker_hears_of_answers_and_answerer_of_acceptance(
    service: RunningService, js: nats.js.JetStreamContext
) -> None:
    stub = api_grpc.NotifyServiceStub(service.channel)
    await _emit(js, "answer_posted", _posted())
    await _emit(
        js,
        "answer_accepted",
        events.AnswerAccepted(
            answer_id="a1",
            question_id="q1",
            community_id="c1",
            answer_author_id="bob",
            question_author_id="ann",
            accepted_by="ann",
            question_title="How do I book leave?",
        ),
    )
    ann = await _inbox(stub, "ann", 1)
    assert [(n.type, n.actor_id, n.subject_id) for n in ann.notifications] == [
        (pb.NOTIFICATION_TYPE_NEW_ANSWER, "bob", "q1")
    ]
    assert "bob answered your question" in ann.notifications[0].text
    bob = await _inbox(stub, "bob", 1)
    assert [n.type for n in bob.notifications] == [pb.NOTIFICATION_TYPE_ANSWER_ACCEPTED]
    assert bob.unread_count == 1


async def test_one_notification_per_event_however_often_delivered_and_none_for_oneself(
    service: RunningService, js: nats.js.JetStreamContext
) -> None:
    stub = api_grpc.NotifyServiceStub(service.channel)
    posted = await _emit(js, "answer_posted", _posted())
    await js.publish(posted.topic, posted.data, headers={**posted.headers(), "Nats-Msg-Id": "again"})
    await _emit(js, "answer_posted", _posted(answerer="ann", answer_id="a-self"))
    await _emit(js, "answer_posted", _posted(answerer="cat", answer_id="a2"))
    ann = await _inbox(stub, "ann", 2)
    await asyncio.sleep(0.3)
    ann = await _inbox(stub, "ann", 2)
    assert sorted(n.actor_id for n in ann.notifications) == ["bob", "cat"]


async def test_mark_read_pages_and_permissions(service: RunningService, js: nats.js.JetStreamContext) -> None:
    stub = api_grpc.NotifyServiceStub(service.channel)
    for i in range(5):
        await _emit(js, "answer_posted", _posted(answerer=f"p{i}", answer_id=f"a{i}"))
        await asyncio.sleep(0.005)  # distinct event times, so newest-first order is the emit order reversed
    everything = await _inbox(stub, "ann", 5, page_size=100)
    ids = [n.id for n in everything.notifications]
    assert [n.actor_id for n in everything.notifications] == [f"p{i}" for i in reversed(range(5))]

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.MarkNotificationsRead(
            api.MarkNotificationsReadRequest(notification_ids=ids[:2]), metadata=auth("bob")
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.MarkNotificationsRead(api.MarkNotificationsReadRequest(), metadata=auth("ann"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.MarkNotificationsRead(
            api.MarkNotificationsReadRequest(notification_ids=[ids[0], "nope"]), metadata=auth("ann")
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND

    marked = await stub.MarkNotificationsRead(
        api.MarkNotificationsReadRequest(notification_ids=ids[:2]), metadata=auth("ann")
    )
    assert marked.marked_count == 2
    unread = await stub.ListNotifications(
        api.ListNotificationsRequest(unread_only=True), metadata=auth("ann")
    )
    assert [n.id for n in unread.notifications] == ids[2:]
    assert unread.unread_count == 3

    seen: list[str] = []
    token = ""
    while True:
        page = await stub.ListNotifications(
            api.ListNotificationsRequest(page_size=2, page_token=token), metadata=auth("ann")
        )
        seen += [n.id for n in page.notifications]
        token = page.next_page_token
        if not token:
            break
    assert seen == ids
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ListNotifications(api.ListNotificationsRequest(page_token="!!"), metadata=auth("ann"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
