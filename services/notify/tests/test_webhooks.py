"""Webhooks against a real HTTP receiver on loopback: rules, signatures, retries, dead letters, replay."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import grpc
import pytest
import pytest_asyncio
from services.notify.tests.support import Events

from guild.events.v1 import community_events_pb2 as community
from guild.events.v1 import content_events_pb2 as content
from guild.notify.v1 import notify_service_pb2 as api
from guild.notify.v1 import notify_service_pb2_grpc as api_grpc
from guild.notify.v1 import webhook_pb2 as wpb
from guild_common.settings import ServiceSettings
from guild_notify.bootstrap import build
from guild_notify.config import NotifySettings
from guild_notify.domain.webhooks import verify_signature
from guild_testing.fixtures import auth, token_for
from guild_testing.inprocess import running_service
from guild_testing.status import expect_request_id_reused, field_violations

ACCEPTED = "guild.content.answer_accepted.v1"
JOINED = "guild.community.member_joined.v1"


def admin(subject: str = "hr-system") -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token_for(subject, scopes=('notify.webhooks',))}")]


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each POST with the next planned status (the last one repeats) and keeps what came.

    ``delay`` holds each answer back (until the receiver closes); ``body_size`` bytes of body follow each
    answer, and ``sent`` counts those the receiver managed to write."""

    statuses: list[int] = field(default_factory=lambda: [200])
    received: list[Received] = field(default_factory=list)
    url: str = ""
    delay: float = 0.0
    body_size: int = 0
    sent: int = 0
    answered: int = 0
    closing: threading.Event = field(default_factory=threading.Event)

    def plan(self, *statuses: int) -> None:
        self.statuses = list(statuses)

    def answer(self, request: Received) -> int:
        self.received.append(request)
        return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.received) < count:
            assert asyncio.get_running_loop().time() < deadline, f"{len(self.received)} of {count} requests"
            await asyncio.sleep(0.05)
        return self.received


@contextmanager
def http_receiver() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = receiver.answer(Received({k.lower(): v for k, v in self.headers.items()}, body))
            if receiver.delay:
                receiver.closing.wait(receiver.delay)
            self.send_response(status)
            self.send_header("Content-Length", str(receiver.body_size))
            self.end_headers()
            chunk = b"x" * 65536
            try:
                while receiver.sent < receiver.body_size and not receiver.closing.is_set():
                    self.wfile.write(chunk[: receiver.body_size - receiver.sent])
                    receiver.sent += len(chunk[: receiver.body_size - receiver.sent])
            except OSError:
                self.close_connection = True
            finally:
                receiver.answered += 1

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/guild"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.closing.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    with http_receiver() as first, http_receiver() as second, http_receiver() as third:
        yield [first, second, third]


DEADLINE_SECONDS = 3.0


@pytest_asyncio.fixture
async def hooks(
    settings_for: Callable[..., ServiceSettings], events: Events, receivers: list[Receiver]
) -> AsyncIterator[api_grpc.NotifyServiceStub]:
    ports = [f"127.0.0.1:{urlsplit(r.url).port}" for r in receivers]
    settings = settings_for(
        NotifySettings,
        webhook_allowed_hosts=", ".join(["hooks.example.com", *ports]),
        webhook_allow_http=True,
        webhook_max_attempts=3,
        webhook_retry_base_seconds=0.1,
        webhook_retry_max_seconds=0.3,
        webhook_sweep_seconds=0.5,
        webhook_deadline_seconds=DEADLINE_SECONDS,
    )
    async with running_service(settings, build) as running:
        yield api_grpc.NotifyServiceStub(running.channel)


def _create(url: str, *types: str, request_id: str = "") -> api.CreateWebhookRequest:
    return api.CreateWebhookRequest(webhook=wpb.Webhook(url=url, event_types=types), request_id=request_id)


async def _expect(code: grpc.StatusCode, call: object) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.code() == code


async def test_registration_rules(hooks: api_grpc.NotifyServiceStub, receivers: list[Receiver]) -> None:
    url = "https://hooks.example.com/guild"
    # The allow-list names origins: a host off its port is refused, and a bare host means the default port.
    unlisted = next(p for p in range(20000, 30000) if all(f":{p}/" not in r.url for r in receivers))
    for off_port in [
        "https://hooks.example.com:8443/guild",
        "https://hooks.example.com:80/guild",
        f"http://127.0.0.1:{unlisted}/hooks",
        "http://127.0.0.1/hooks",
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await hooks.CreateWebhook(_create(off_port, ACCEPTED), metadata=admin())
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "webhook.url" in field_violations(caught.value)
    await hooks.CreateWebhook(_create("https://hooks.example.com:443/guild", ACCEPTED), metadata=admin("crm"))
    await hooks.CreateWebhook(_create(receivers[0].url, ACCEPTED), metadata=admin("crm"))
    await _expect(
        grpc.StatusCode.PERMISSION_DENIED, hooks.CreateWebhook(_create(url, ACCEPTED), metadata=auth("ann"))
    )
    for bad in [
        _create("https://evil.example.net/x", ACCEPTED),
        _create("ftp://hooks.example.com/x", ACCEPTED),
        _create("https://user:pw@hooks.example.com/x", ACCEPTED),
        _create("not a url", ACCEPTED),
        _create(url, "guild.content.nothing.v1"),
        _create(url),
    ]:
        await _expect(grpc.StatusCode.INVALID_ARGUMENT, hooks.CreateWebhook(bad, metadata=admin()))

    created = await hooks.CreateWebhook(_create(url, ACCEPTED, JOINED, request_id="r1"), metadata=admin())
    assert created.secret
    assert list(created.webhook.event_types) == [ACCEPTED, JOINED]
    again = await hooks.CreateWebhook(_create(url, ACCEPTED, JOINED, request_id="r1"), metadata=admin())
    assert (again.webhook.id, again.secret) == (created.webhook.id, created.secret)
    # The request id is bound to its first request: other content under it is refused.
    await expect_request_id_reused(
        hooks.CreateWebhook(_create(url, ACCEPTED, request_id="r1"), metadata=admin())
    )

    listed = await hooks.ListWebhooks(api.ListWebhooksRequest(), metadata=admin())
    assert [w.id for w in listed.webhooks] == [created.webhook.id]
    assert not (await hooks.ListWebhooks(api.ListWebhooksRequest(), metadata=admin("lms"))).webhooks
    delete_other = hooks.DeleteWebhook(
        api.DeleteWebhookRequest(webhook_id=created.webhook.id), metadata=admin("lms")
    )
    await _expect(grpc.StatusCode.NOT_FOUND, delete_other)
    await hooks.DeleteWebhook(api.DeleteWebhookRequest(webhook_id=created.webhook.id), metadata=admin())
    assert not (await hooks.ListWebhooks(api.ListWebhooksRequest(), metadata=admin())).webhooks


async def _deliveries(
    hooks: api_grpc.NotifyServiceStub,
    webhook_id: str,
    settled: Callable[[list[wpb.WebhookDelivery]], bool],
    timeout: float = 10,
) -> list[wpb.WebhookDelivery]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        response = await hooks.ListWebhookDeliveries(
            api.ListWebhookDeliveriesRequest(webhook_id=webhook_id), metadata=admin()
        )
        if settled(list(response.deliveries)):
            return list(response.deliveries)
        assert asyncio.get_running_loop().time() < deadline, response
        await asyncio.sleep(0.05)


async def test_signed_deliveries_retry_dead_letter_and_replay(
    hooks: api_grpc.NotifyServiceStub, events: Events, receivers: list[Receiver]
) -> None:
    receiver = receivers[0]
    created = await hooks.CreateWebhook(_create(receiver.url, ACCEPTED, JOINED), metadata=admin())
    webhook_id, secret = created.webhook.id, created.secret

    receiver.plan(500, 502, 200)
    accepted = await events.emit(
        "content",
        "answer_accepted",
        content.AnswerAccepted(answer_id="a1", question_id="q1", answer_author_id="bob", accepted_by="ann"),
    )
    requests = await receiver.wait_for(3)
    for request in requests:
        timestamp = int(request.headers["guild-webhook-timestamp"])
        assert verify_signature(secret, timestamp, request.body, request.headers["guild-webhook-signature"])
        assert not verify_signature(
            "other", timestamp, request.body, request.headers["guild-webhook-signature"]
        )
    body = json.loads(requests[0].body)
    assert (body["id"], body["type"], body["data"]["answer_id"]) == (accepted.id, ACCEPTED, "a1")
    assert len({r.headers["guild-webhook-id"] for r in requests}) == 1

    [delivered] = await _deliveries(
        hooks, webhook_id, lambda ds: bool(ds) and ds[0].state == wpb.WEBHOOK_DELIVERY_STATE_DELIVERED
    )
    assert [a.status_code for a in delivered.attempts] == [500, 502, 200]
    assert [a.attempt for a in delivered.attempts] == [1, 2, 3]

    # An endpoint that keeps failing: dead after three attempts, then replayed once it recovers.
    receiver.plan(503)
    await events.emit(
        "community", "member_joined", community.MemberJoined(community_id="c1", member_id="eve")
    )
    await events.emit("content", "answer_posted", content.AnswerPosted(answer_id="a2"))  # not subscribed
    settled = await _deliveries(
        hooks,
        webhook_id,
        lambda ds: len(ds) == 2 and ds[0].state == wpb.WEBHOOK_DELIVERY_STATE_DEAD,
    )
    dead = settled[0]
    assert dead.event_type == JOINED
    assert [a.status_code for a in dead.attempts] == [503, 503, 503]
    assert all(a.error == "HTTP 503" for a in dead.attempts)

    await _expect(
        grpc.StatusCode.NOT_FOUND,
        hooks.ReplayWebhookDelivery(
            api.ReplayWebhookDeliveryRequest(delivery_id=dead.id), metadata=admin("lms")
        ),
    )
    receiver.plan(204)
    replayed = await hooks.ReplayWebhookDelivery(
        api.ReplayWebhookDeliveryRequest(delivery_id=dead.id), metadata=admin()
    )
    assert replayed.delivery.state == wpb.WEBHOOK_DELIVERY_STATE_PENDING
    final = await _deliveries(
        hooks, webhook_id, lambda ds: ds[0].state == wpb.WEBHOOK_DELIVERY_STATE_DELIVERED
    )
    assert [a.status_code for a in final[0].attempts] == [503, 503, 503, 204]
    assert len(receiver.received) == 7


async def test_a_slow_endpoint_does_not_hold_up_another(
    hooks: api_grpc.NotifyServiceStub, events: Events, receivers: list[Receiver]
) -> None:
    fast, slow = receivers[0], receivers[1]
    slow.delay = 60.0  # answers only when the test ends
    slow_hook = await hooks.CreateWebhook(_create(slow.url, ACCEPTED), metadata=admin())
    await hooks.CreateWebhook(_create(fast.url, ACCEPTED), metadata=admin())
    loop = asyncio.get_running_loop()
    started = loop.time()
    for n in range(6):
        await events.emit("content", "answer_accepted", content.AnswerAccepted(answer_id=f"a{n}"))
    await fast.wait_for(6, timeout=DEADLINE_SECONDS)
    # Every event reached the fast endpoint well within one deadline of the slow one.
    assert loop.time() - started < DEADLINE_SECONDS * 2 / 3
    await slow.wait_for(1)

    # The slow endpoint's attempts end at the deadline, not when it answers.
    def timed_out(ds: list[wpb.WebhookDelivery]) -> bool:
        return len(ds) == 6 and all(d.attempts for d in ds)

    settled = await _deliveries(hooks, slow_hook.webhook.id, timed_out, timeout=30)
    for delivery in settled:
        attempt = delivery.attempts[0]
        assert attempt.status_code == 0
        assert attempt.error
        assert attempt.duration_ms < (DEADLINE_SECONDS + 1) * 1000


async def test_a_huge_response_is_not_read(
    hooks: api_grpc.NotifyServiceStub, events: Events, receivers: list[Receiver]
) -> None:
    huge = receivers[2]
    huge.body_size = 100 * 1024 * 1024
    created = await hooks.CreateWebhook(_create(huge.url, ACCEPTED), metadata=admin())
    await events.emit("content", "answer_accepted", content.AnswerAccepted(answer_id="a1"))
    [delivered] = await _deliveries(
        hooks,
        created.webhook.id,
        lambda ds: bool(ds) and ds[0].state == wpb.WEBHOOK_DELIVERY_STATE_DELIVERED,
    )
    assert [a.status_code for a in delivered.attempts] == [200]
    assert delivered.attempts[0].duration_ms < DEADLINE_SECONDS * 1000
    deadline = asyncio.get_running_loop().time() + 10
    while not huge.answered:  # the receiver finds the connection closed
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    # What went out is what the socket buffers held, not the body.
    assert huge.sent < 16 * 1024 * 1024
