"""What the benchmarks share: the bare gRPC echo they are measured against, summary figures, and the CPU
time processes spend on a phase."""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
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


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user and system) a process has used so far; this process when ``pid`` is None."""
    if pid is None:
        times = os.times()
        return times.user + times.system
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class CpuMeter:
    """CPU seconds each named process spends between ``start`` and ``stop``, beside the wall time:
    what a phase costs where, so that a throughput can be set against what the machine's cores allow.
    ``None`` names this process."""

    pids: Mapping[str, int | None]
    used: dict[str, float] = field(default_factory=dict)
    wall: float = 0.0
    _started: dict[str, float] = field(default_factory=dict)
    _wall_started: float = 0.0

    def start(self) -> None:
        self._started = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self._wall_started = time.perf_counter()

    def stop(self) -> None:
        self.wall = time.perf_counter() - self._wall_started
        self.used = {name: cpu_seconds(pid) - self._started[name] for name, pid in self.pids.items()}

    def per_item_ms(self, items: int) -> dict[str, float]:
        """Milliseconds of CPU each process spent per item of the phase."""
        return {name: seconds * 1000 / items for name, seconds in self.used.items()}

    def ceiling(self, items: int, cores: int | None = None) -> float:
        """Items per second the machine's cores could do at this CPU cost per item, all processes
        together, were nothing else running."""
        total = sum(self.used.values())
        return (cores or os.cpu_count() or 1) * items / total if total else float("inf")

    def busiest(self, items: int) -> tuple[str, float]:
        """The process that spent the most CPU, and the items per second one core of it allows: the
        bound for a process that does its work on one core (the embedded store writes one
        transaction at a time)."""
        name, seconds = max(self.used.items(), key=lambda item: item[1])
        return name, items / seconds if seconds else float("inf")


def on_fresh_servers(
    run: Callable[[str, str], Coroutine[Any, Any, None]],
    *,
    ferretdb: Path | None = None,
    ferretdb_args: list[str] | None = None,
    started: Callable[[dict[str, int]], None] | None = None,
) -> None:
    """Start FerretDB (the project's build, or ``ferretdb``) and NATS with their data in a temporary
    folder, run ``run(mongo_uri, nats_url)`` to the end, then stop both and remove the folder.
    ``started`` is given the servers' process ids (``store``, ``nats``) first, for a ``CpuMeter``."""
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
            if started is not None:
                started(
                    {
                        name: server.process.pid
                        for name, server in (("store", ferret), ("nats", nats_server))
                        if server.process
                    }
                )
            asyncio.run(run(ferret.uri, nats_server.url))
        finally:
            nats_server.stop()
            ferret.stop()
