"""The gRPC server of a service: interceptors, health, reflection, workers and graceful shutdown."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from guild_common.auth import TokenVerifier
from guild_common.grpc.interceptors import RequestInterceptor
from guild_common.settings import ServiceSettings

log = structlog.get_logger("guild.server")


class Worker(Protocol):
    """A long-running task of the process: an outbox relay or an event consumer."""

    async def run(self) -> None: ...

    def stop(self) -> None: ...


Registrar = Callable[[grpc.aio.Server], Sequence[str]]
# Health entry that reports the process alone (for liveness probes); "" and the services also follow
# the dependencies (for readiness).
LIVENESS = "liveness"
HealthCheck = Callable[[], Awaitable[bool]]


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
    ) -> None:
        self._settings = settings
        self._workers = list(workers)
        self._healthy = healthy
        self._closers = list(closers)
        self._health_interval = health_interval
        self._server = grpc.aio.server(
            interceptors=[
                RequestInterceptor(TokenVerifier.from_settings(settings), f"{settings.service_name}.guild")
            ]
        )
        self._service_names = list(register(self._server))
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        reflection.enable_server_reflection(
            [
                *self._service_names,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ],
            self._server,
        )
        self.port = self._server.add_insecure_port(f"{settings.grpc_host}:{settings.grpc_port}")
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self._set_health(False)
        await self._health.set(LIVENESS, health_pb2.HealthCheckResponse.SERVING)
        await self._server.start()
        self._tasks = [asyncio.create_task(w.run(), name=type(w).__name__) for w in self._workers]
        self._tasks.append(asyncio.create_task(self._watch_health(), name="health"))
        log.info("serving", port=self.port, services=self._service_names)

    async def _set_health(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ["", *self._service_names]:
            await self._health.set(name, status)

    async def _watch_health(self) -> None:
        last: bool | None = None
        while True:
            try:
                ok = await self._healthy() and self._workers_alive()
            except Exception:
                ok = False
            if ok != last:
                await self._set_health(ok)
                log.info("health", serving=ok)
                last = ok
            await asyncio.sleep(self._health_interval)

    def _workers_alive(self) -> bool:
        """A worker that ended on its own (it should run until stopped) makes the process unhealthy."""
        return not any(task.done() for task in self._tasks[: len(self._workers)])

    async def stop(self) -> None:
        """Stop accepting, finish in-flight calls, then stop workers."""
        await self._health.enter_graceful_shutdown()
        await self._server.stop(self._settings.shutdown_grace_seconds)
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
