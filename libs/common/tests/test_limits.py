"""Per-principal limits: open server streams and a token bucket for calls, over a real gRPC server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
import pytest_asyncio
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from guild_common.auth import Principal
from guild_common.errors import ResourceExhausted
from guild_common.grpc.limits import RequestLimits
from guild_testing.fixtures import auth, token_for
from guild_testing.status import details_of, error_details
from guild_testing.workers import probe_server, raw_bytes

MAX_STREAMS = 8
RATE, BURST = 5.0, 10


async def ping(request: bytes, context: Any) -> bytes:
    return b"pong"


async def follow(request: bytes, context: Any) -> AsyncIterator[bytes]:
    """A stream that sends one message, then stays open until the caller leaves."""
    yield b"open"
    await asyncio.Event().wait()


@pytest_asyncio.fixture
async def channel() -> AsyncIterator[grpc.aio.Channel]:
    async with _serving() as chan:
        yield chan


def _serving(**overrides: Any) -> contextlib.AbstractAsyncContextManager[grpc.aio.Channel]:
    return probe_server(
        "test.Limits",
        unary={"Ping": ping},
        streams={"Follow": follow},
        max_streams_per_principal=MAX_STREAMS,
        rate_limit_per_second=RATE,
        rate_limit_burst=BURST,
        **overrides,
    )


def _ping(channel: grpc.aio.Channel) -> Any:
    return channel.unary_unary(
        "/test.Limits/Ping", request_serializer=raw_bytes, response_deserializer=raw_bytes
    )


def _follow(channel: grpc.aio.Channel, who: str) -> Any:
    stream = channel.unary_stream(
        "/test.Limits/Follow", request_serializer=raw_bytes, response_deserializer=raw_bytes
    )
    return stream(b"", metadata=auth(who))


def _retry_delay(error: grpc.aio.AioRpcError) -> float:
    [info] = details_of(error, error_details_pb2.RetryInfo)
    return float(info.retry_delay.ToNanoseconds()) / 1e9


async def test_the_stream_cap_refuses_one_more_and_admits_again_once_one_closes(
    channel: grpc.aio.Channel,
) -> None:
    streams = [_follow(channel, "ann") for _ in range(MAX_STREAMS)]
    for stream in streams:
        assert await stream.read() == b"open"
    refused = _follow(channel, "ann")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await refused.read()
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert f"at most {MAX_STREAMS}" in (caught.value.details() or "")
    assert error_details(caught.value)[0] == "TOO_MANY_STREAMS"
    # Another caller is not held to ann's streams, and unary calls still answer.
    other = _follow(channel, "bob")
    assert await other.read() == b"open"
    assert await _ping(channel)(b"", metadata=auth("ann")) == b"pong"

    streams.pop().cancel()
    deadline = asyncio.get_running_loop().time() + 5
    while True:
        again = _follow(channel, "ann")
        try:
            assert await again.read() == b"open"
            break
        except grpc.aio.AioRpcError as error:  # until the server has seen the cancel
            code = error.code()
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    for stream in [*streams, other, again]:
        stream.cancel()


async def test_the_rate_limit_refuses_a_burst_beyond_its_bound_for_one_caller_only(
    channel: grpc.aio.Channel,
) -> None:
    ping_call = _ping(channel)
    outcomes = await asyncio.gather(
        *(ping_call(b"", metadata=auth("ann")) for _ in range(BURST + 5)), return_exceptions=True
    )
    refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert sum(o == b"pong" for o in outcomes) == BURST
    assert len(refused) == 5
    for error in refused:
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert error_details(error)[0] == "RATE_LIMITED"
        assert 0 < _retry_delay(error) <= 1 / RATE
    # Another caller still gets through; health needs no token and is never limited.
    assert await ping_call(b"", metadata=auth("bob")) == b"pong"
    health = health_pb2_grpc.HealthStub(channel)
    for _ in range(BURST + 5):
        await health.Check(health_pb2.HealthCheckRequest())
    # Services calling each other are not limited.
    service = [("authorization", f"Bearer {token_for('content', scopes=('service',))}")]
    for _ in range(BURST + 5):
        assert await ping_call(b"", metadata=service) == b"pong"
    # After a pause the bucket has refilled.
    await asyncio.sleep(1 / RATE + 0.05)
    assert await ping_call(b"", metadata=auth("ann")) == b"pong"


def test_the_bucket_refills_at_its_rate_and_says_how_long_to_wait() -> None:
    now = [100.0]
    limits = RequestLimits(max_streams=1, rate=2.0, burst=3, clock=lambda: now[0])
    ann = Principal("ann")
    for _ in range(3):
        limits.admit(ann)
    with pytest.raises(ResourceExhausted) as caught:
        limits.admit(ann)
    assert caught.value.retry_after_seconds == pytest.approx(0.5)
    now[0] += 0.5
    limits.admit(ann)
    with limits.stream(Principal("bob")):
        assert limits.open_streams("bob") == 1
        with pytest.raises(ResourceExhausted), limits.stream(Principal("bob")):
            pass
    assert limits.open_streams("bob") == 0


async def test_the_server_caps_open_streams_of_all_callers_together() -> None:
    async with _serving(max_streams_total=3) as chan:
        held = [_follow(chan, who) for who in ("ann", "ann", "bob")]
        for stream in held:
            assert await stream.read() == b"open"
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _follow(chan, "cat").read()
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert error_details(caught.value)[0] == "TOO_MANY_STREAMS"
        assert _retry_delay(caught.value) > 0
        held.pop().cancel()
        deadline = asyncio.get_running_loop().time() + 5
        while True:
            cat = _follow(chan, "cat")
            try:
                assert await cat.read() == b"open"
                break
            except grpc.aio.AioRpcError:  # until the server has seen the cancel
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.05)
        for stream in [*held, cat]:
            stream.cancel()


async def test_a_stream_ends_cleanly_when_its_lifetime_is_up_even_while_idle() -> None:
    async with _serving(stream_max_seconds=0.5) as chan:
        started = asyncio.get_running_loop().time()
        stream = _follow(chan, "ann")
        assert await stream.read() == b"open"
        assert await stream.read() == grpc.aio.EOF  # the handler waits for ever; the bound ends it
        assert await stream.code() == grpc.StatusCode.OK
        assert 0.4 < asyncio.get_running_loop().time() - started < 3
        # Its slot is free again: the caller's next stream is admitted.
        again = _follow(chan, "ann")
        assert await again.read() == b"open"
        again.cancel()
