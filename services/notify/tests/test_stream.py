"""StreamNotifications: live delivery and resumption after a reconnect without loss or duplicates."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import TypeAlias

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from pymongo import AsyncMongoClient
from services.notify.tests.support import Events, wait_for_inbox

from guild.events.v1 import community_events_pb2 as community
from guild.events.v1 import content_events_pb2 as content
from guild.notify.v1 import notification_pb2 as pb
from guild.notify.v1 import notify_service_pb2 as api
from guild.notify.v1 import notify_service_pb2_grpc as api_grpc
from guild_common.clock import utc_now
from guild_common.events.envelope import new_envelope
from guild_common.events.publisher import JetStreamPublisher
from guild_common.mongo import Document, ensure_indexes
from guild_common.pagination import decode_token
from guild_common.settings import ServiceSettings
from guild_notify.adapters.inbox_store import SCHEMA, SEQUENCE_INDEXES, MongoInbox
from guild_notify.app.live import LiveStreams
from guild_notify.bootstrap import build
from guild_notify.config import NotifySettings
from guild_notify.domain.notifications import Notification, new_answer
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


async def test_a_bad_resume_token_is_invalid(any_stub: api_grpc.NotifyServiceStub) -> None:
    stub = any_stub
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
        await ensure_indexes(db, [*SCHEMA.indexes, *SEQUENCE_INDEXES])
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
        # The group summary follows the notification's insert: wait for it rather than race it.
        deadline = asyncio.get_running_loop().time() + 10
        while True:
            groups = await stub.ListNotificationGroups(
                api.ListNotificationGroupsRequest(), metadata=auth("ann")
            )
            summary = [(g.subject_id, g.total_count) for g in groups.groups]
            if summary == [("q1", 4)] or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.05)
        assert summary == [("q1", 4)]


async def test_community_notices_stream_to_connected_members_and_resume_without_repeats(
    settings_for: Callable[..., ServiceSettings], events: Events
) -> None:
    settings = settings_for(NotifySettings)
    async with running_service(settings, build) as running:
        stub = api_grpc.NotifyServiceStub(running.channel)
        for community_id, member in [("c1", "ann"), ("c1", "bob"), ("c1", "cat"), ("c2", "zed")]:
            await events.emit(
                "community",
                "member_joined",
                community.MemberJoined(community_id=community_id, member_id=member, role="member"),
            )
        await stub.UpdatePreferences(
            api.UpdatePreferencesRequest(
                preferences=pb.Preferences(muted_community_ids=["c1"]),
                update_mask=FieldMask(paths=["muted_community_ids"]),
            ),
            metadata=auth("cat"),
        )
        await events.emit(
            "community",
            "role_granted",
            community.RoleGranted(community_id="c1", member_id="bob", role="owner", granted_by="olga"),
        )
        await wait_for_inbox(stub, "bob", 1)  # every membership before it is known

        async def broadcast(text: str) -> str:
            response = await stub.CreateBroadcast(
                api.CreateBroadcastRequest(broadcast=pb.Broadcast(community_id="c1", text=text)),
                metadata=auth("bob"),
            )
            return str(response.broadcast.id)

        ann, zed, cat = await _open(stub, "ann"), await _open(stub, "zed"), await _open(stub, "cat")
        await broadcast("Town hall at noon")
        town_hall = await _next(ann)
        assert (town_hall.notification.type, town_hall.notification.text) == (
            pb.NOTIFICATION_TYPE_BROADCAST,
            "Town hall at noon",
        )
        assert town_hall.notification.id.startswith("broadcast:")
        assert not town_hall.notification.read
        await events.emit(
            "community",
            "survey_opened",
            community.SurveyOpened(survey_id="s1", community_id="c1", title="Pulse", opened_by="bob"),
        )
        survey = await _next(ann)
        assert (survey.notification.type, survey.notification.subject_id) == (
            pb.NOTIFICATION_TYPE_SURVEY_OPENED,
            "s1",
        )
        await events.emit("content", "answer_posted", _posted("dan", "a1"))
        answer = await _next(ann)
        assert (answer.notification.type, answer.notification.sequence) == (
            pb.NOTIFICATION_TYPE_NEW_ANSWER,
            1,
        )
        ann.cancel()

        # From the broadcast's token: what followed it, not the broadcast again.
        resumed = await _open(stub, "ann", town_hall.resume_token)
        after = [(await _next(resumed)).notification.id for _ in range(2)]
        assert sorted(after) == sorted([survey.notification.id, answer.notification.id])
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(resumed.read(), timeout=0.3)
        resumed.cancel()

        # From the latest token: nothing again, and what is new arrives.
        latest = await _open(stub, "ann", answer.resume_token)
        await broadcast("Office closed Friday")
        assert (await _next(latest)).notification.text == "Office closed Friday"
        latest.cancel()

        # Not a member, or muted: none of it.
        for call in (zed, cat):
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(call.read(), timeout=0.3)
            call.cancel()

        client: AsyncMongoClient[Document] = AsyncMongoClient(settings.mongo_uri, tz_aware=True)
        try:
            db = client[settings.database_name]
            assert await db["broadcasts"].count_documents({}) == 3  # stored once, whoever listens
            assert await db["notifications"].count_documents({"recipient_id": "ann"}) == 1
        finally:
            await client.close()


async def test_streams_are_woken_for_the_communities_they_watch_only() -> None:
    live = LiveStreams()
    with live.subscribe("ann") as woken:
        live.watch(woken, ["c1", "c2"])
        live.community_published("c3")
        assert not woken.is_set()
        live.community_published("c2")
        assert woken.is_set()
        woken.clear()
        live.watch(woken, ["c1"])  # left c2
        live.community_published("c2")
        assert not woken.is_set()
        live.community_published("c1")
        assert woken.is_set()
        assert (live.watchers("c1"), live.watchers("c2")) == (1, 0)
    live.community_published("c1")  # closed: nothing left behind to wake
    assert live.listeners("ann") == 0
    assert live.watchers("c1") == 0


async def test_a_notice_passed_over_before_the_membership_is_known_is_streamed_once_it_is(
    settings_for: Callable[..., ServiceSettings], events: Events
) -> None:
    # Notify learns of memberships from community events, which may lag: a stream that reads a
    # notice to a community before it knows the member joined passes over it, then catches up.
    async with running_service(settings_for(NotifySettings, stream_poll_seconds=0.3), build) as running:
        stub = api_grpc.NotifyServiceStub(running.channel)
        await events.emit(
            "community", "member_joined", community.MemberJoined(community_id="c1", member_id="bob")
        )
        await events.emit(
            "community",
            "role_granted",
            community.RoleGranted(community_id="c1", member_id="bob", role="owner", granted_by="olga"),
        )
        await wait_for_inbox(stub, "bob", 1)
        joined = new_envelope(
            service="community",
            name="member_joined",
            payload=community.MemberJoined(community_id="c1", member_id="ann", role="member"),
            subject="s",
            region="emea",
            programme="sales",
        )
        ann = await _open(stub, "ann")
        broadcast = await stub.CreateBroadcast(
            api.CreateBroadcastRequest(broadcast=pb.Broadcast(community_id="c1", text="Town hall")),
            metadata=auth("bob"),
        )
        # Two personal notifications: the stream reads the community notices between them, so the
        # second one's token shows the broadcast passed over.
        await events.emit("content", "answer_posted", _posted("dan", "a1"))
        first = await _next(ann)
        await events.emit("content", "answer_posted", _posted("dan", "a2"))
        second = await _next(ann)
        assert [first.notification.sequence, second.notification.sequence] == [1, 2]
        assert decode_token(second.resume_token)["b"] == 1  # passed the broadcast, not shown it

        await JetStreamPublisher(events.js).publish(joined)  # the membership lands, late
        inbox = await wait_for_inbox(stub, "ann", 3)  # the notice is in the inbox now
        assert "Town hall" in [n.text for n in inbox.notifications]
        await events.emit("content", "answer_posted", _posted("dan", "a3"))
        delivered = [await _next(ann) for _ in range(2)]
        assert sorted((d.notification.type, d.notification.text) for d in delivered) == [
            (pb.NOTIFICATION_TYPE_NEW_ANSWER, "dan answered your question \u201cHow do I book leave?\u201d"),
            (pb.NOTIFICATION_TYPE_BROADCAST, "Town hall"),
        ]
        notice = next(
            d.notification for d in delivered if d.notification.type == pb.NOTIFICATION_TYPE_BROADCAST
        )
        assert notice.id == f"broadcast:{broadcast.broadcast.id}"
        with pytest.raises(asyncio.TimeoutError):  # once only: not again on the next re-reads
            await asyncio.wait_for(ann.read(), timeout=1.0)
        ann.cancel()
        resumed = await _open(stub, "ann", delivered[-1].resume_token)
        with pytest.raises(asyncio.TimeoutError):  # nor after a reconnect
            await asyncio.wait_for(resumed.read(), timeout=0.6)
        resumed.cancel()
