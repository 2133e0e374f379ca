"""The server interceptor every service runs: authentication, context, errors and one log line per RPC."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import structlog
from google.protobuf.message import Message
from google.rpc import code_pb2
from opentelemetry import metrics, trace
from pymongo import errors as mongo_errors

from guild_common import errors
from guild_common.auth import Principal, TokenVerifier, bind_principal, reset_principal
from guild_common.grpc.limits import RequestLimits
from guild_common.grpc.requests import check_request
from guild_common.grpc.status import build_status, status_for_error
from guild_common.idempotency import IdempotencyKeys

OPEN_METHOD_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)

log = structlog.get_logger("guild.rpc")
_meter = metrics.get_meter("guild.rpc")
_duration = _meter.create_histogram("guild.rpc.server.duration", unit="s", description="RPC handling time")

_UNAVAILABLE_ERRORS = (mongo_errors.ConnectionFailure, mongo_errors.ServerSelectionTimeoutError)


class RequestInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Authenticates the caller, binds them to the context, maps errors and logs a summary line."""

    def __init__(
        self,
        verifier: TokenVerifier,
        domain: str,
        *,
        idempotency: IdempotencyKeys | None = None,
        limits: RequestLimits | None = None,
        stream_max_seconds: float = 0.0,
    ) -> None:
        self._verifier = verifier
        self.domain = domain
        self._idempotency = idempotency
        self._limits = limits or RequestLimits(max_streams=0, rate=0, burst=1)
        self._stream_max_seconds = stream_max_seconds

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        method: str = details.method
        if handler is None or method.startswith(OPEN_METHOD_PREFIXES):
            return handler
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(method, handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(method, handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    async def _authenticate(self, context: grpc.aio.ServicerContext) -> Principal:
        headers = [value for key, value in context.invocation_metadata() or () if key == "authorization"]
        if len(headers) > 1:
            # Which of two credentials counts would depend on a proxy's or library's choice: refuse both.
            raise errors.Unauthenticated("more than one authorization header")
        header = headers[0] if headers else None
        return await self._verifier.verify_header(header if isinstance(header, str) else None)

    def _wrap_unary(self, method: str, inner: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def behaviour(request: Any, context: grpc.aio.ServicerContext) -> Any:
            async with _RpcScope(self, method, context) as scope:
                principal = await self._authenticate(context)
                scope.bind(principal)
                self._limits.admit(principal)
                _check(request)
                if self._idempotency is None:
                    return await inner(request, context)
                binding = await self._idempotency.bind(principal.subject, method, request)
                if binding is None:
                    return await inner(request, context)
                try:
                    response = await inner(request, context)
                except errors.GuildError:
                    await binding.release()
                    raise
                await binding.confirm()
                return response
            return None  # unreachable: the scope aborts on error

        return behaviour

    def _wrap_stream(
        self, method: str, inner: Callable[..., AsyncIterator[Any]]
    ) -> Callable[..., AsyncIterator[Any]]:
        async def behaviour(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            async with _RpcScope(self, method, context) as scope:
                principal = await self._authenticate(context)
                scope.bind(principal)
                with self._limits.stream(principal):
                    _check(request)
                    async for item in _bounded(inner(request, context), self._stream_max_seconds):
                        yield item

        return behaviour


async def _bounded(items: AsyncIterator[Any], seconds: float) -> AsyncIterator[Any]:
    """``items`` until they end or ``seconds`` have passed (0: no bound); then the stream ends cleanly
    and the client opens a new one. The wait for the next item is cut at the bound, so an idle stream
    ends too."""
    if seconds <= 0:
        async for item in items:
            yield item
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    iterator = aiter(items)
    try:
        while (remaining := deadline - loop.time()) > 0:
            try:
                item = await asyncio.wait_for(anext(iterator), remaining)
            except StopAsyncIteration:
                return
            except TimeoutError:
                if loop.time() < deadline:
                    raise  # the handler's own
                return
            yield item
    finally:
        await iterator.aclose()  # type: ignore[attr-defined]


def _check(request: Any) -> None:
    if isinstance(request, Message):
        check_request(request)


class _RpcScope:
    """Context, error mapping and the summary log line of one RPC."""

    def __init__(self, owner: RequestInterceptor, method: str, context: grpc.aio.ServicerContext) -> None:
        self._owner = owner
        self._method = method
        self._context = context
        self._principal_token: Any = None
        self._started = 0.0

    def bind(self, principal: Principal) -> None:
        self._principal_token = bind_principal(principal)
        structlog.contextvars.bind_contextvars(principal=principal.subject)
        trace.get_current_span().set_attribute("enduser.id", principal.subject)

    async def __aenter__(self) -> _RpcScope:
        self._started = time.perf_counter()
        structlog.contextvars.bind_contextvars(rpc=self._method)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> bool:
        status, code, details = self._outcome(exc)
        elapsed = time.perf_counter() - self._started
        _duration.record(elapsed, {"rpc.method": self._method, "rpc.grpc.status_code": code})
        log.info("rpc", code=code, duration_ms=round(elapsed * 1000, 2), **details)
        if self._principal_token is not None:
            reset_principal(self._principal_token)
        structlog.contextvars.unbind_contextvars("rpc", "principal")
        if status is None:
            return False
        trace.get_current_span().set_attribute("rpc.guild.reason", details.get("reason", code))
        await self._context.abort_with_status(status)
        return False  # abort_with_status raises; never reached

    def _outcome(self, exc: BaseException | None) -> tuple[grpc.Status | None, str, dict[str, Any]]:
        """The status to abort with (None to let the outcome through), its code name and log fields."""
        domain = self._owner.domain
        if exc is None:
            return None, "OK", {}
        if isinstance(exc, errors.GuildError):
            status = status_for_error(exc, domain)
            return status, status.code.name, {"reason": exc.reason, "error": exc.message}
        if isinstance(exc, _UNAVAILABLE_ERRORS):
            status = build_status(
                code_pb2.UNAVAILABLE, "a dependency is unavailable", "DEPENDENCY_UNAVAILABLE", domain, {}
            )
            return status, "UNAVAILABLE", {"reason": "DEPENDENCY_UNAVAILABLE", "error": repr(exc)}
        if isinstance(exc, grpc.aio.AbortError):
            return None, "ABORTED_BY_HANDLER", {}
        if not isinstance(exc, Exception):
            return None, "CANCELLED", {}
        correlation_id = uuid.uuid4().hex
        log.error("rpc failed", correlation_id=correlation_id, exc_info=exc)
        status = build_status(
            code_pb2.INTERNAL,
            f"internal error; correlation id {correlation_id}",
            "INTERNAL",
            domain,
            {"correlation_id": correlation_id},
        )
        return status, "INTERNAL", {"correlation_id": correlation_id}
