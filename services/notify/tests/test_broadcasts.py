"""Broadcasts: stored once, merged into each member's inbox on read, with per-member read state."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

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
from guild_common.mongo import Document
from guild_common.settings import ServiceSettings
from guild_notify.bootstrap import build
from guild_notify.config import NotifySettings
from guild_testing.fixtures import auth
from guild_testing.inprocess import running_service
from guild_testing.status import expect_request_id_reused


async def _join(events: Events, community_id: str, member: str, role: str = "member") -> None:
    await events.emit(
        "community",
        "member_joined",
        community.MemberJoined(community_id=community_id, member_id=member, role=role),
    )


async def _broadcast(
    stub: api_grpc.NotifyServiceStub, who: str, text: str, community_id: str = "c1", request_id: str = ""
) -> pb.Broadcast:
    response = await stub.CreateBroadcast(
        api.CreateBroadcastRequest(
            broadcast=pb.Broadcast(community_id=community_id, text=text), request_id=request_id
        ),
        metadata=auth(who),
    )
    broadcast: pb.Broadcast = response.broadcast
    return broadcast


async def _list(stub: api_grpc.NotifyServiceStub, who: str, **kw: object) -> api.ListNotificationsResponse:
    response: api.ListNotificationsResponse = await stub.ListNotifications(
        api.ListNotificationsRequest(**kw),  # type: ignore[arg-type]
        metadata=auth(who),
    )
    return response


async def _unread(stub: api_grpc.NotifyServiceStub, who: str) -> int:
    response = await stub.GetUnreadCount(api.GetUnreadCountRequest(), metadata=auth(who))
    return int(response.unread_count)


async def test_broadcasts_reach_members_once_stored(
    settings_for: Callable[..., ServiceSettings], events: Events
) -> None:
    settings = settings_for(NotifySettings)
    async with running_service(settings, build) as running:
        stub = api_grpc.NotifyServiceStub(running.channel)
        for member in ("ann", "cat", "eve", "bob"):
            await _join(events, "c1", member)
        await _join(events, "c2", "dan")
        await events.emit(
            "community", "member_left", community.MemberLeft(community_id="c1", member_id="eve")
        )
        await events.emit(
            "community",
            "role_granted",
            community.RoleGranted(community_id="c1", member_id="bob", role="champion", granted_by="olga"),
        )
        await wait_for_inbox(stub, "bob", 1)  # the role notice: every community event before it is in

        for who, code in [
            ("ann", grpc.StatusCode.PERMISSION_DENIED),
            ("zed", grpc.StatusCode.PERMISSION_DENIED),
        ]:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await _broadcast(stub, who, "Hello")
            assert caught.value.code() == code
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _broadcast(stub, "bob", "  ")
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT

        await events.emit(
            "content",
            "answer_posted",
            content.AnswerPosted(
                answer_id="a1", question_id="q1", community_id="c1", author_id="bob", question_author_id="ann"
            ),
        )
        await wait_for_inbox(stub, "ann", 1)
        await asyncio.sleep(0.01)
        sent = await _broadcast(stub, "bob", "New onboarding material is up", request_id="r1")
        assert (await _broadcast(stub, "bob", "New onboarding material is up", request_id="r1")).id == sent.id
        await expect_request_id_reused(_broadcast(stub, "bob", "Something else entirely", request_id="r1"))

        ann = await _list(stub, "ann")
        assert [(n.type, n.read) for n in ann.notifications] == [
            (pb.NOTIFICATION_TYPE_BROADCAST, False),
            (pb.NOTIFICATION_TYPE_NEW_ANSWER, False),
        ]
        notice = ann.notifications[0]
        assert (notice.id, notice.actor_id, notice.community_id, notice.recipient_id) == (
            f"broadcast:{sent.id}",
            "bob",
            "c1",
            "ann",
        )
        assert ann.unread_count == 2
        assert [n.text for n in (await _list(stub, "cat")).notifications] == ["New onboarding material is up"]
        for outsider in ("dan", "eve", "zed"):
            assert not (await _list(stub, outsider)).notifications

        # Read state is per member.
        await stub.MarkNotificationsRead(
            api.MarkNotificationsReadRequest(notification_ids=[notice.id]), metadata=auth("ann")
        )
        assert await _unread(stub, "ann") == 1
        assert await _unread(stub, "cat") == 1
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.MarkNotificationsRead(
                api.MarkNotificationsReadRequest(notification_ids=[notice.id]), metadata=auth("dan")
            )
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        marked = await stub.MarkAllNotificationsRead(
            api.MarkAllNotificationsReadRequest(), metadata=auth("cat")
        )
        assert marked.marked_count == 1
        assert await _unread(stub, "cat") == 0
        assert not (await _list(stub, "cat", unread_only=True)).notifications
        assert [n.read for n in (await _list(stub, "cat")).notifications] == [True]

        # Later broadcasts are unread again; pages merge both sources without loss or repeats.
        for i in range(4):
            await _broadcast(stub, "bob", f"Notice {i}")
        assert await _unread(stub, "cat") == 4
        everything = [n.id for n in (await _list(stub, "ann", page_size=100)).notifications]
        assert len(everything) == 6
        paged: list[str] = []
        token = ""
        while True:
            page = await _list(stub, "ann", page_size=4, page_token=token)
            paged += [n.id for n in page.notifications]
            token = page.next_page_token
            if not token:
                break
        assert paged == everything
        unread_ann = await _list(stub, "ann", unread_only=True, page_size=100)
        assert len(unread_ann.notifications) == 5 == unread_ann.unread_count

        # Someone who joins later does not get the history; muting a community hides its notices.
        await _join(events, "c1", "fay")
        await events.emit(
            "community",
            "role_granted",
            community.RoleGranted(community_id="c1", member_id="fay", role="curator", granted_by="olga"),
        )
        await wait_for_inbox(stub, "fay", 1)
        assert [n.type for n in (await _list(stub, "fay")).notifications] == [
            pb.NOTIFICATION_TYPE_ROLE_GRANTED
        ]
        await stub.UpdatePreferences(
            api.UpdatePreferencesRequest(
                preferences=pb.Preferences(muted_community_ids=["c1"]),
                update_mask=FieldMask(paths=["muted_community_ids"]),
            ),
            metadata=auth("cat"),
        )
        assert not (await _list(stub, "cat")).notifications

    client: AsyncMongoClient[Document] = AsyncMongoClient(settings.mongo_uri, tz_aware=True)
    try:
        db = client[settings.database_name]
        assert await db["broadcasts"].count_documents({}) == 5  # one document per broadcast
        assert await db["broadcast_reads"].count_documents({}) == 1  # only ann's explicit mark
    finally:
        await client.close()
