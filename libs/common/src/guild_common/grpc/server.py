"""The gRPC server of a service: interceptors, health, reflection, workers and graceful shutdown."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from opentelemetry import metrics
from opentelemetry.instrumentation.grpc import aio_server_interceptor

from guild_common.auth import TokenVerifier
from guild_common.grpc.interceptors import OPEN_METHOD_PREFIXES, RequestInterceptor
from guild_common.grpc.limits import RequestLimits
from guild_common.grpc.reflection import enable_reflection
from guild_common.health import Readiness
from guild_common.idempotency import IdempotencyKeys
from guild_common.settings import ServiceSettings
from guild_common.tls import grpc_server_credentials

log = structlog.get_logger("guild.server")
_meter = metrics.get_meter("guild.health")
_serving_gauge = _meter.create_gauge(
    "guild.health.serving", description="1 while the service reports SERVING (its database answers), else 0"
)
_degraded_gauge = _meter.create_gauge(
    "guild.health.degraded",
    description="1 while a dependency the service works around is down (NATS: events wait in the outbox)",
)
# Dependencies a service may report as degraded, so each gauge series returns to 0 on recovery.
DEGRADABLE = ("nats",)


class Worker(Protocol):
    """A long-running task of the process: an outbox relay or an event consumer."""

    async def run(self) -> None: ...

    def stop(self) -> None: ...


Registrar = Callable[[grpc.aio.Server], Sequence[str]]
# Health entry that reports the process alone (for liveness probes); "" and the services also follow
# the dependencies (for readiness).
LIVENESS = "liveness"
HealthCheck = Callable[[], Awaitable[bool | Readiness]]


def _traced_methods(details: grpc.HandlerCallDetails) -> bool:
    """Health and reflection are not traced: they are probes, and their handlers do not suit the
    OpenTelemetry aio interceptor (it iterates the result of every server-streaming handler, so a
    ``Health/Watch`` written as a coroutine that calls ``context.write`` would fail as UNKNOWN)."""
    return not str(details.method).startswith(OPEN_METHOD_PREFIXES)


def tracing_interceptor() -> grpc.aio.ServerInterceptor:
    """The OpenTelemetry server interceptor for the service's own RPCs."""
    interceptor: grpc.aio.ServerInterceptor = aio_server_interceptor(filter_=_traced_methods)  # type: ignore[no-untyped-call]
    return interceptor


class ServiceServer:
    """Serves a service's RPCs and runs its workers; ``stop`` drains both in order."""

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        register: Registrar,
        workers: Sequence[Worker],
        healthy: HealthCheck,
        closers: Sequence[Callable[[], Awaitable[None]]] = (),
        health_interval: float = 2.0,
        idempotency: IdempotencyKeys | None = None,
    ) -> None:
        self._settings = settings
        self._workers = list(workers)
        self._healthy = healthy
        self._closers = list(closers)
        self._health_interval = health_interval
        self._server = grpc.aio.server(
            interceptors=[
                tracing_interceptor(),
                RequestInterceptor(
                    TokenVerifier.from_settings(settings),
                    f"{settings.service_name}.guild",
                    idempotency=idempotency,
                    limits=RequestLimits(
                        max_streams=settings.max_streams_per_principal,
                        rate=settings.rate_limit_per_second,
                        burst=settings.rate_limit_burst,
                        max_streams_total=settings.max_streams_total,
                    ),
                    stream_max_seconds=settings.stream_max_seconds,
                ),
            ]
        )
        self._service_names = list(register(self._server))
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        enable_reflection(
            [*self._service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name], self._server
        )
        address = f"{settings.grpc_host}:{settings.grpc_port}"
        credentials = grpc_server_credentials(settings)
        self.tls = credentials is not None
        if credentials is None:
            self.port = self._server.add_insecure_port(address)
        else:
            self.port = self._server.add_secure_port(address, credentials)
        # Kubelet gRPC probes speak plaintext only: a second server answers grpc.health.v1 alone there.
        self._probe_server: grpc.aio.Server | None = None
        self.health_port = 0
        if settings.grpc_health_port:
            self._probe_server = grpc.aio.server()
            health_pb2_grpc.add_HealthServicer_to_server(self._health, self._probe_server)
            self.health_port = self._probe_server.add_insecure_port(
                f"{settings.grpc_host}:{settings.grpc_health_port}"
            )
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self.readiness = Readiness(serving=False)

    async def start(self) -> None:
        await self._set_health(False)
        await self._health.set(LIVENESS, health_pb2.HealthCheckResponse.SERVING)
        await self._server.start()
        if self._probe_server is not None:
            await self._probe_server.start()
        self._tasks = [asyncio.create_task(w.run(), name=type(w).__name__) for w in self._workers]
        self._tasks.append(asyncio.create_task(self._watch_health(), name="health"))
        log.info(
            "serving",
            port=self.port,
            tls=self.tls,
            client_auth=self._settings.grpc_tls_client_auth if self.tls else "none",
            health_port=self.health_port or None,
            services=self._service_names,
        )

    async def _set_health(self, serving: bool) -> None:
        if self._stopping:
            return
        status = (
            health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ["", *self._service_names]:
            await self._health.set(name, status)

    async def _check(self) -> Readiness:
        try:
            result = await self._healthy()
        except Exception as exc:
            log.warning("health check failed", exc_info=exc)
            return Readiness(serving=False)
        readiness = result if isinstance(result, Readiness) else Readiness(serving=bool(result))
        if not self._workers_alive():
            return Readiness(serving=False, degraded=readiness.degraded)
        return readiness

    async def _watch_health(self) -> None:
        """Follow the dependencies: NOT_SERVING (streamed to watchers) while the service cannot work; a
        degraded dependency is logged and counted but keeps the service in rotation."""
        last: Readiness | None = None
        while True:
            current = await self._check()
            service = self._settings.service_name
            _serving_gauge.set(int(current.serving), {"service": service})
            for dependency in sorted({*DEGRADABLE, *current.degraded}):
                _degraded_gauge.set(
                    int(dependency in current.degraded), {"service": service, "dependency": dependency}
                )
            if last is None or current.serving != last.serving:
                await self._set_health(current.serving)
                log.info("health", serving=current.serving)
            if current.degraded and (last is None or current.degraded != last.degraded):
                log.warning("health degraded", degraded=list(current.degraded), serving=current.serving)
            elif last is not None and last.degraded and not current.degraded:
                log.info("health recovered", recovered=list(last.degraded))
            self.readiness = last = current
            await asyncio.sleep(self._health_interval)

    def _workers_alive(self) -> bool:
        """A worker that ended on its own (it should run until stopped) makes the process unhealthy."""
        return not any(task.done() for task in self._tasks[: len(self._workers)])

    async def stop(self) -> None:
        """Report NOT_SERVING (streamed to watchers), stop accepting, finish in-flight calls, then stop
        workers."""
        self._stopping = True
        await self._health.enter_graceful_shutdown()
        await self._server.stop(self._settings.shutdown_grace_seconds)
        if self._probe_server is not None:
            await self._probe_server.stop(None)
        for worker in self._workers:
            worker.stop()
        for task in self._tasks[len(self._workers) :]:
            task.cancel()
        done, pending = await asyncio.wait(self._tasks, timeout=self._settings.shutdown_grace_seconds)
        for task in pending:
            task.cancel()
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                log.error("worker failed", task=task.get_name(), exc_info=task.exception())
        for close in self._closers:
            await close()
        log.info("stopped")

    async def wait_for_termination(self) -> None:
        """Serve until SIGTERM or SIGINT."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("shutting down")
