"""What the benchmarks share: the bare gRPC echo they are measured against, and summary figures."""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import grpc

from guild_testing.servers import FerretServer, NatsServer

ECHO = "/guild.bench.v1.EchoService/Echo"


def bare_echo_server() -> tuple[grpc.aio.Server, int]:
    """A gRPC server with one method that returns its request: no interceptors, no store. Not started."""

    async def echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return request

    handler = grpc.method_handlers_generic_handler(
        "guild.bench.v1.EchoService", {"Echo": grpc.unary_unary_rpc_method_handler(echo)}
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    return server, port


def median_p99_us(samples: list[float]) -> tuple[float, float]:
    """Median and 99th percentile of durations in seconds, in microseconds."""
    ordered = sorted(samples)
    return statistics.median(ordered) * 1e6, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e6


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def on_fresh_servers(
    run: Callable[[str, str], Coroutine[Any, Any, None]],
    *,
    ferretdb: Path | None = None,
    ferretdb_args: list[str] | None = None,
) -> None:
    """Start FerretDB (the project's build, or ``ferretdb``) and NATS with their data in a temporary
    folder, run ``run(mongo_uri, nats_url)`` to the end, then stop both and remove the folder."""
    with tempfile.TemporaryDirectory(prefix="guild-bench-") as tmp:
        ferret = FerretServer(
            data_dir=Path(tmp) / "ferretdb",
            log_dir=Path(tmp) / "logs",
            binary=ferretdb,
            extra_args=ferretdb_args or [],
        )
        nats_server = NatsServer(data_dir=Path(tmp) / "nats", log_dir=Path(tmp) / "logs")
        try:
            ferret.start()
            nats_server.start()
            asyncio.run(run(ferret.uri, nats_server.url))
        finally:
            nats_server.stop()
            ferret.stop()
