"""Webhooks on in-memory ports with a fake HTTP poster (the real client is tested in ``test_webhooks``):
registration rules, owners only, fan-out once per event, signed attempts, retries, dead letters, replay."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from services.notify.tests.app_world import World, who
from services.notify.tests.memory import RecordingPoster

from guild.events.v1 import content_events_pb2 as content
from guild_common.clock import utc_now
from guild_common.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from guild_common.events.envelope import Envelope, new_envelope
from guild_notify.adapters.webhook_client import event_json
from guild_notify.app.webhooks import WEBHOOK_SCOPE, WebhookDelivery, WebhookFanout
from guild_notify.domain.webhooks import (
    ID_HEADER,
    MAX_EVENT_TYPES,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    DeliveryState,
    Webhook,
    verify_signature,
)

ACCEPTED = "guild.content.answer_accepted.v1"
JOINED = "guild.community.member_joined.v1"
URL = "https://hooks.example.com/guild"


@pytest.fixture
def world() -> World:
    return World()


async def _create(world: World, *types: str, owner: str = "hr-system", request_id: str = "") -> Webhook:
    return await world.webhooks_uc.create(who(owner, WEBHOOK_SCOPE), URL, list(types), request_id)


async def test_registering_needs_the_scope_or_a_service(world: World) -> None:
    with pytest.raises(PermissionDenied) as caught:
        await world.webhooks_uc.create(who("ann"), URL, [ACCEPTED], "")
    assert caught.value.reason == "MISSING_SCOPE"
    assert world.webhooks.webhooks == {}
    by_service = await world.webhooks_uc.create(who("lms", "service"), URL, [ACCEPTED], "")
    assert by_service.owner_id == "lms"


@pytest.mark.parametrize(
    ("url", "types", "fields"),
    [
        ("http://hooks.example.com/x", [ACCEPTED], ["webhook.url"]),  # http not allowed
        ("https://evil.example.com/x", [ACCEPTED], ["webhook.url"]),  # off the allow-list
        ("https://hooks.example.com:8443/x", [ACCEPTED], ["webhook.url"]),  # another port
        ("https://user:pw@hooks.example.com/x", [ACCEPTED], ["webhook.url"]),
        (URL, [], ["webhook.event_types"]),
        (URL, ["guild.content.nope.v1"], ["webhook.event_types"]),
        (
            URL,
            [ACCEPTED] + [f"t{i}" for i in range(MAX_EVENT_TYPES)],
            ["webhook.event_types", "webhook.event_types"],
        ),
        ("", [], ["webhook.url", "webhook.event_types"]),
    ],
)
async def test_invalid_registrations_name_each_bad_field(
    world: World, url: str, types: list[str], fields: list[str]
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await world.webhooks_uc.create(who("hr", WEBHOOK_SCOPE), url, types, "")
    assert [v.field for v in caught.value.violations] == fields
    assert world.webhooks.webhooks == {}


async def test_a_retried_registration_returns_the_same_webhook_and_secret(world: World) -> None:
    created = await _create(world, ACCEPTED, JOINED, ACCEPTED, request_id="r1")
    assert created.event_types == (ACCEPTED, JOINED)  # repeats dropped
    assert len(created.secret) >= 32
    again = await _create(world, ACCEPTED, JOINED, request_id="r1")
    assert (again.id, again.secret) == (created.id, created.secret)
    other = await _create(world, ACCEPTED, request_id="r2")
    assert other.secret != created.secret
    assert len(world.webhooks.webhooks) == 2


async def test_owners_see_list_and_delete_only_their_own(world: World) -> None:
    mine = [await _create(world, ACCEPTED) for _ in range(5)]
    theirs = await _create(world, ACCEPTED, owner="lms")
    seen: list[str] = []
    token = ""
    while True:
        page, token = await world.webhooks_uc.list_webhooks(who("hr-system"), 2, token)
        seen += [w.id for w in page]
        if not token:
            break
    assert sorted(seen) == sorted(w.id for w in mine)
    assert len(seen) == 5
    for call in (
        world.webhooks_uc.delete(who("hr-system"), theirs.id),
        world.webhooks_uc.delete(who("hr-system"), "nope"),
        world.webhooks_uc.delete(who("hr-system"), ""),
        world.webhooks_uc.deliveries(who("hr-system"), theirs.id, 10, ""),
    ):
        with pytest.raises(NotFound) as caught:
            await call
        assert caught.value.reason == "WEBHOOK_NOT_FOUND"
    assert theirs.id in world.webhooks.webhooks
    await world.webhooks_uc.delete(who("lms"), theirs.id)
    assert theirs.id not in world.webhooks.webhooks


# --- fan-out and delivery ----------------------------------------------------------------------------


def _accepted_event() -> Envelope:
    return new_envelope(
        service="content",
        name="answer_accepted",
        payload=content.AnswerAccepted(
            answer_id="a1", question_id="q1", answer_author_id="ann", accepted_by="bob"
        ),
        subject="q1",
        region="emea",
        programme="sales",
    )


def _fanout(world: World) -> WebhookFanout:
    return WebhookFanout(world.webhooks, world.deliveries, event_json)


def _worker(world: World, poster: RecordingPoster, **kw: float) -> WebhookDelivery:
    return WebhookDelivery(
        world.webhooks,
        world.deliveries,
        poster,
        max_attempts=int(kw.get("max_attempts", 3)),
        retry_base_seconds=kw.get("base", 0.0),
        retry_max_seconds=60.0,
        deadline_seconds=1.0,
        concurrency=int(kw.get("concurrency", 8)),
        per_endpoint=int(kw.get("per_endpoint", 2)),
    )


async def _attempt_due(worker: WebhookDelivery, world: World) -> None:
    """One attempt of each delivery due, in turn (a sweep would start them as tasks)."""
    for delivery in await world.deliveries.due(utc_now() + timedelta(seconds=1), 100):
        await worker.attempt(delivery)


async def test_an_event_is_queued_once_per_subscribed_webhook(world: World) -> None:
    accepted_hook = await _create(world, ACCEPTED)
    both = await _create(world, ACCEPTED, JOINED, owner="lms")
    await _create(world, JOINED)
    fanout = _fanout(world)
    woken: list[int] = []
    fanout.on_queued = lambda: woken.append(1)
    event = _accepted_event()
    await fanout.on_event(event)
    await fanout.on_event(event)  # redelivered
    assert sorted(d.webhook_id for d in world.deliveries.deliveries.values()) == sorted(
        [accepted_hook.id, both.id]
    )
    [delivery] = [d for d in world.deliveries.deliveries.values() if d.webhook_id == accepted_hook.id]
    body = json.loads(delivery.body)
    assert (body["id"], body["type"], body["data"]["answer_id"]) == (event.id, ACCEPTED, "a1")
    assert (delivery.state, delivery.owner_id) == (DeliveryState.PENDING, "hr-system")
    assert len(woken) == 2


async def test_attempts_are_signed_retried_and_recorded_then_delivered(world: World) -> None:
    webhook = await _create(world, ACCEPTED)
    await _fanout(world).on_event(_accepted_event())
    poster = RecordingPoster(500, TimeoutError("no answer"), 200)
    worker = _worker(world, poster)
    for _ in range(3):
        await _attempt_due(worker, world)
    [delivery] = world.deliveries.deliveries.values()
    assert delivery.state is DeliveryState.DELIVERED
    assert [(a.attempt, a.status_code) for a in delivery.attempts] == [(1, 500), (2, 0), (3, 200)]
    assert delivery.attempts[0].error == "HTTP 500"
    assert "no answer" in delivery.attempts[1].error
    for post in poster.posts:
        assert post.url == URL
        assert post.headers[ID_HEADER] == delivery.id
        timestamp = int(post.headers[TIMESTAMP_HEADER])
        assert verify_signature(webhook.secret, timestamp, post.body, post.headers[SIGNATURE_HEADER])
        assert not verify_signature("another secret", timestamp, post.body, post.headers[SIGNATURE_HEADER])
    assert await world.deliveries.due(utc_now() + timedelta(days=1), 10) == []


async def test_a_failing_endpoint_backs_off_then_dead_letters_and_replay_starts_a_new_round(
    world: World,
) -> None:
    await _create(world, ACCEPTED)
    await _fanout(world).on_event(_accepted_event())
    worker = _worker(world, RecordingPoster(503), base=10.0)
    [pending] = world.deliveries.deliveries.values()
    await worker.attempt(pending)
    retried = await world.deliveries.get(pending.id)
    assert retried is not None
    assert retried.state is DeliveryState.PENDING
    assert retried.next_attempt_time >= utc_now() + timedelta(seconds=9)
    assert await world.deliveries.due(utc_now(), 10) == []  # not due until the backoff passes
    await worker.attempt(retried)
    third = await world.deliveries.get(pending.id)
    assert third is not None
    await worker.attempt(third)
    dead = await world.deliveries.get(pending.id)
    assert dead is not None
    assert dead.state is DeliveryState.DEAD
    assert [a.status_code for a in dead.attempts] == [503, 503, 503]

    with pytest.raises(NotFound) as caught:
        await world.webhooks_uc.replay(who("lms"), dead.id)  # not the owner's
    assert caught.value.reason == "DELIVERY_NOT_FOUND"
    replayed = await world.webhooks_uc.replay(who("hr-system"), dead.id)
    assert (replayed.state, replayed.round_attempts, len(replayed.attempts)) == (DeliveryState.PENDING, 0, 3)
    assert world.replays == 1
    with pytest.raises(FailedPrecondition) as pending_again:
        await world.webhooks_uc.replay(who("hr-system"), dead.id)
    assert pending_again.value.reason == "DELIVERY_PENDING"
    await _worker(world, RecordingPoster(204)).attempt(replayed)
    delivered = await world.deliveries.get(pending.id)
    assert delivered is not None
    assert [a.status_code for a in delivered.attempts] == [503, 503, 503, 204]
    page, _ = await world.webhooks_uc.deliveries(who("hr-system"), delivered.webhook_id, 10, "")
    assert [d.state for d in page] == [DeliveryState.DELIVERED]


async def test_a_delivery_of_a_deleted_webhook_is_dead_at_once(world: World) -> None:
    webhook = await _create(world, ACCEPTED)
    await _fanout(world).on_event(_accepted_event())
    await world.webhooks_uc.delete(who("hr-system"), webhook.id)
    poster = RecordingPoster()
    [delivery] = world.deliveries.deliveries.values()
    await _worker(world, poster).attempt(delivery)
    dead = await world.deliveries.get(delivery.id)
    assert dead is not None
    assert (dead.state, dead.attempts[0].error) == (DeliveryState.DEAD, "webhook deleted")
    assert poster.posts == []


async def test_a_sweep_claims_each_delivery_once_and_bounds_each_endpoint(world: World) -> None:
    hooks = [await _create(world, ACCEPTED, owner=f"o{i}") for i in range(2)]
    for _ in range(3):
        await _fanout(world).on_event(_accepted_event())
    release, four_started = asyncio.Event(), asyncio.Event()
    started: list[str] = []

    class Held(RecordingPoster):
        async def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
            started.append(headers[ID_HEADER])
            if len(started) == 4:
                four_started.set()
            await release.wait()
            return await super().post(url, body, headers)

    delivered: dict[int, asyncio.Event] = {4: asyncio.Event(), 6: asyncio.Event()}
    record = world.deliveries.record

    async def counted(*args: Any) -> None:
        await record(*args)
        done = sum(1 for d in world.deliveries.deliveries.values() if d.state is DeliveryState.DELIVERED)
        if done in delivered:
            delivered[done].set()

    world.deliveries.record = counted  # type: ignore[method-assign, assignment]
    worker = _worker(world, Held(), per_endpoint=2)
    await worker.sweep()
    await asyncio.wait_for(four_started.wait(), timeout=5)
    per_hook = {h.id: sum(1 for s in started if s.startswith(h.id)) for h in hooks}
    assert per_hook == {hooks[0].id: 2, hooks[1].id: 2}  # at most two in flight per endpoint
    await worker.sweep()  # both endpoints are at their bound: nothing more starts
    release.set()
    await asyncio.wait_for(delivered[4].wait(), timeout=5)
    await worker.sweep()
    await asyncio.wait_for(delivered[6].wait(), timeout=5)
    assert sorted(started) == sorted(world.deliveries.deliveries)  # each attempted once
    assert await world.deliveries.due(utc_now() + timedelta(days=1), 10) == []
