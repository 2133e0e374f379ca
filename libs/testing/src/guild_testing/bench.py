"""What the benchmarks share: the bare gRPC echo they are measured against, and summary figures."""

from __future__ import annotations

import statistics
import sys
import time

import grpc

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
