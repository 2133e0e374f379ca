"""The notify gRPC service in this process on in-memory ports (``app_world.serving``): the servicer's
mapping, tokens, and errors as ``google.rpc.Status`` with their details, without FerretDB or NATS."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import grpc
import pytest
import pytest_asyncio
from google.protobuf.field_mask_pb2 import FieldMask
from services.notify.tests.app_world import World, meta, serving

from guild.notify.v1 import notification_pb2 as pb
from guild.notify.v1 import notify_service_pb2 as api
from guild.notify.v1 import notify_service_pb2_grpc as api_grpc
from guild.notify.v1 import webhook_pb2 as wpb
from guild_common.clock import utc_now
from guild_notify.domain import integration_events as ie
from guild_testing.fixtures import auth, token_for
from guild_testing.status import error_details, error_domain


@dataclass
class Served:
    world: World
    stub: api_grpc.NotifyServiceStub


@pytest_asyncio.fixture
async def served() -> AsyncIterator[Served]:
    world = World()
    async with serving(world) as stub:
        yield Served(world, stub)


async def _failure(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


def _answer(answer_id: str, answerer: str, minutes: int) -> ie.AnswerPosted:
    return ie.AnswerPosted(
        meta=meta(time=utc_now() - timedelta(hours=1) + timedelta(minutes=minutes)),
        question_id="q1",
        question_title="How do I book leave?",
        question_author_id="ann",
        author_id=answerer,
        community_id="c1",
        answer_id=answer_id,
    )


async def test_every_rpc_needs_a_token(served: Served) -> None:
    error = await _failure(served.stub.ListNotifications(api.ListNotificationsRequest()))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    forged = [("authorization", "Bearer not-a-token")]
    error = await _failure(served.stub.GetPreferences(api.GetPreferencesRequest(), metadata=forged))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_the_inbox_over_grpc_pages_marks_and_counts(served: Served) -> None:
    for i in range(3):
        await served.world.handle(_answer(f"a{i}", f"p{i}", i))
    stub = served.stub
    first = await stub.ListNotifications(api.ListNotificationsRequest(page_size=2), metadata=auth("ann"))
    assert [(n.type, n.actor_id) for n in first.notifications] == [
        (pb.NOTIFICATION_TYPE_NEW_ANSWER, "p2"),
        (pb.NOTIFICATION_TYPE_NEW_ANSWER, "p1"),
    ]
    assert first.unread_count == 3
    assert first.notifications[0].text == "p2 answered your question \u201cHow do I book leave?\u201d"
    rest = await stub.ListNotifications(
        api.ListNotificationsRequest(page_size=2, page_token=first.next_page_token), metadata=auth("ann")
    )
    assert [n.actor_id for n in rest.notifications] == ["p0"]
    assert rest.next_page_token == ""
    ids = [n.id for n in first.notifications]

    error = await _failure(
        stub.MarkNotificationsRead(
            api.MarkNotificationsReadRequest(notification_ids=ids), metadata=auth("bob")
        )
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error_details(error)[0] == "NOTIFICATION_NOT_FOUND"
    assert error_domain(error) == "notify.guild"
    error = await _failure(
        stub.MarkNotificationsRead(api.MarkNotificationsReadRequest(), metadata=auth("ann"))
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_details(error) == (
        "INVALID_ARGUMENT",
        {"notification_ids": "must name at least one notification"},
    )
    marked = await stub.MarkNotificationsRead(
        api.MarkNotificationsReadRequest(notification_ids=ids), metadata=auth("ann")
    )
    assert marked.marked_count == 2
    count = await stub.GetUnreadCount(api.GetUnreadCountRequest(), metadata=auth("ann"))
    assert count.unread_count == 1
    groups = await stub.ListNotificationGroups(api.ListNotificationGroupsRequest(), metadata=auth("ann"))
    [group] = groups.groups
    assert (group.total_count, group.unread_count) == (3, 1)
    all_read = await stub.MarkAllNotificationsRead(
        api.MarkAllNotificationsReadRequest(), metadata=auth("ann")
    )
    assert all_read.marked_count == 1
    error = await _failure(
        stub.ListNotifications(api.ListNotificationsRequest(page_token="!!"), metadata=auth("ann"))
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(error_details(error)[1]) == {"page_token"}


async def test_preferences_and_unsubscribe_over_grpc(served: Served) -> None:
    stub = served.stub
    await stub.UpdatePreferences(
        api.UpdatePreferencesRequest(
            preferences=pb.Preferences(email_address="ann@example.com"),
            update_mask=FieldMask(paths=["email_address"]),
        ),
        metadata=auth("ann"),
    )
    error = await _failure(
        stub.UpdatePreferences(
            api.UpdatePreferencesRequest(
                preferences=pb.Preferences(email_address="nope"),
                update_mask=FieldMask(paths=["email_address"]),
            ),
            metadata=auth("ann"),
        )
    )
    assert error_details(error) == ("INVALID_ARGUMENT", {"preferences.email_address": "not an email address"})
    token = served.world.tokens.issue("ann", "digest")
    response = await stub.Unsubscribe(api.UnsubscribeRequest(token=token), metadata=auth("anyone"))
    assert response == api.UnsubscribeResponse()  # nothing about the member
    prefs = (await stub.GetPreferences(api.GetPreferencesRequest(), metadata=auth("ann"))).preferences
    assert (prefs.digest_frequency, prefs.email_address) == (pb.DIGEST_FREQUENCY_OFF, "ann@example.com")
    error = await _failure(stub.Unsubscribe(api.UnsubscribeRequest(token=token + "x"), metadata=auth("ann")))
    assert error_details(error)[1] == {"token": "not issued by this service"}


async def test_broadcasts_over_grpc_check_the_role_and_fields(served: Served) -> None:
    past = utc_now() - timedelta(days=1)
    await served.world.join("c1", "ann", at=past)
    await served.world.join("c1", "own", role="owner", at=past)
    stub = served.stub

    def create(who: str, text: str) -> object:
        request = api.CreateBroadcastRequest(
            broadcast=pb.Broadcast(community_id="c1", text=text), request_id="r1"
        )
        return stub.CreateBroadcast(request, metadata=auth(who))

    error = await _failure(create("ann", "Hello"))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert error_details(error)[0] == "ROLE_REQUIRED"
    error = await _failure(create("own", " "))
    assert error_details(error) == ("INVALID_ARGUMENT", {"broadcast.text": "required"})
    sent = await stub.CreateBroadcast(
        api.CreateBroadcastRequest(broadcast=pb.Broadcast(community_id="c1", text="Hello"), request_id="r1"),
        metadata=auth("own"),
    )
    ann = await stub.ListNotifications(api.ListNotificationsRequest(), metadata=auth("ann"))
    assert [(n.id, n.type, n.text) for n in ann.notifications] == [
        (f"broadcast:{sent.broadcast.id}", pb.NOTIFICATION_TYPE_BROADCAST, "Hello")
    ]


async def test_webhooks_over_grpc(served: Served) -> None:
    stub = served.stub
    admin = [("authorization", f"Bearer {token_for('hr', scopes=('notify.webhooks',))}")]

    def create(url: str, who: list[tuple[str, str]]) -> object:
        webhook = wpb.Webhook(url=url, event_types=["guild.content.answer_accepted.v1"])
        return stub.CreateWebhook(api.CreateWebhookRequest(webhook=webhook), metadata=who)

    error = await _failure(create("https://hooks.example.com/x", auth("ann")))
    assert (error.code(), error_details(error)[0]) == (grpc.StatusCode.PERMISSION_DENIED, "MISSING_SCOPE")
    error = await _failure(create("https://evil.example.com/x", admin))
    assert set(error_details(error)[1]) == {"webhook.url"}
    created = await stub.CreateWebhook(
        api.CreateWebhookRequest(
            webhook=wpb.Webhook(
                url="https://hooks.example.com/x", event_types=["guild.content.answer_accepted.v1"]
            )
        ),
        metadata=admin,
    )
    assert created.secret
    listed = await stub.ListWebhooks(api.ListWebhooksRequest(), metadata=admin)
    assert [w.id for w in listed.webhooks] == [created.webhook.id]
    deliveries = await stub.ListWebhookDeliveries(
        api.ListWebhookDeliveriesRequest(webhook_id=created.webhook.id), metadata=admin
    )
    assert list(deliveries.deliveries) == []
    error = await _failure(
        stub.ReplayWebhookDelivery(api.ReplayWebhookDeliveryRequest(delivery_id="nope"), metadata=admin)
    )
    assert (error.code(), error_details(error)[0]) == (grpc.StatusCode.NOT_FOUND, "DELIVERY_NOT_FOUND")
    await stub.DeleteWebhook(api.DeleteWebhookRequest(webhook_id=created.webhook.id), metadata=admin)
    assert not (await stub.ListWebhooks(api.ListWebhooksRequest(), metadata=admin)).webhooks


async def test_the_stream_over_grpc_sends_what_is_stored_once_it_is_live(served: Served) -> None:
    call = served.stub.StreamNotifications(api.StreamNotificationsRequest(), metadata=auth("ann"))
    await asyncio.wait_for(call.initial_metadata(), timeout=5)  # live: nothing stored from now is missed
    await served.world.handle(_answer("a1", "bob", 0))
    item = await asyncio.wait_for(call.read(), timeout=5)
    assert isinstance(item, api.StreamNotificationsResponse)
    assert (item.notification.actor_id, item.notification.type) == ("bob", pb.NOTIFICATION_TYPE_NEW_ANSWER)
    assert item.resume_token
    call.cancel()
