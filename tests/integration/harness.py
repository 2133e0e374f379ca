"""The Guild services as real OS processes, for whole-suite integration tests.

``SuiteProcesses`` runs ``python -m guild_<svc>`` for each service against the session's FerretDB
and NATS, exporting traces and metrics to an OTLP receiver, each on its own free gRPC port and with
its own database. Children get ``PDEATHSIG`` (SIGTERM; see ``spawn``), so they die with pytest
even if it is killed; they are ``guild_testing.processes.ManagedProcess`` objects.

Usage (the ``suite`` fixture in ``conftest.py`` does this for you)::

    suite = SuiteProcesses.for_infra(infra, otlp_endpoint=receiver.endpoint)
    await suite.start_all()             # returns when every service's health check is SERVING
    stub = CommunityServiceStub(suite.channel("community"))
    await suite.stop("content")         # SIGTERM; asserts a clean exit (code 0) within 15 s
    await suite.start("content")        # same port, database and log file
    await suite.stop_all()              # SIGTERM to all; asserts every exit code is 0
    await suite.aclose()                # closes channels, kills anything still running

Each service's stdout/stderr goes to ``<work_dir>/logs/<svc>.log`` (appended across restarts);
``log_lines(svc)`` parses its structlog JSON lines.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import grpc
import nats
from grpc_health.v1 import health_pb2, health_pb2_grpc

from guild_testing.processes import ManagedProcess, free_port

#: Every Guild service, in start order (community first: content calls it).
SERVICES: tuple[str, ...] = ("community", "content", "reputation", "notify")

#: Seconds a service may take to report SERVING after it is started.
START_TIMEOUT = 60.0
#: Seconds a service may take to exit after SIGTERM.
STOP_TIMEOUT = 15.0

# Reconnect quickly after a service restarts, so one channel per service stays usable throughout.
_CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]

# Environment variables passed through from the test process when present.
_PASSTHROUGH_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR")

LogLine = dict[str, Any]


class InfraLike(Protocol):
    """What ``SuiteProcesses.for_infra`` needs: ``guild_testing.fixtures.Infra`` fits."""

    @property
    def mongo_uri(self) -> str: ...

    @property
    def nats_url(self) -> str: ...

    def nats_settings(self, service: str) -> dict[str, str]: ...

    @property
    def work_dir(self) -> Path: ...


def has_entrypoint(service: str) -> bool:
    """Whether ``python -m guild_<service>`` exists yet."""
    try:
        return importlib.util.find_spec(f"guild_{service}.__main__") is not None
    except ModuleNotFoundError:
        return False


def available_services(candidates: Iterable[str] = SERVICES) -> tuple[str, ...]:
    """The services among ``candidates`` that have a ``__main__`` module."""
    return tuple(svc for svc in candidates if has_entrypoint(svc))


async def reset_jetstream(nats_url: str) -> None:
    """Delete every JetStream stream (and so every durable consumer) for a clean start."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        for stream in await js.streams_info():
            if stream.config.name:
                await js.delete_stream(stream.config.name)
    finally:
        await nc.close()


# Run in the child by a fresh interpreter: die with the test process, then become the real command.
_PDEATHSIG_EXEC = """
import ctypes, os, signal, sys
ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
if os.getppid() != int(sys.argv[1]):
    sys.exit("harness: test process is gone")
os.execvp(sys.argv[2], sys.argv[2:])
"""


def spawn(name: str, argv: Sequence[str], *, log_path: Path, env: Mapping[str, str]) -> ManagedProcess:
    """``ManagedProcess.start`` without ``fork()``: the child still gets PDEATHSIG (SIGTERM).

    ``ManagedProcess.start`` sets PDEATHSIG with ``preexec_fn``, which makes ``subprocess`` use a
    real ``fork()``. Once this process has gRPC threads (the OTLP receiver, aio channels), gRPC's
    fork handlers restart its event-engine poller in the forked child, which then often aborts
    with "epoll_wait error: Bad file descriptor" (SIGABRT) before it reaches ``exec``. Without
    ``preexec_fn`` ``subprocess`` uses ``vfork``, which runs no fork handlers; a small Python
    prelude sets PDEATHSIG and ``exec``s the real command, so the pid is the service's own.
    PDEATHSIG fires when the spawning *thread* exits: call this from the event loop's thread.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    wrapped = [sys.executable, "-c", _PDEATHSIG_EXEC, str(os.getpid()), *argv]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            wrapped, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=dict(env)
        )
    return ManagedProcess(name, process, log_path)


def parse_log_lines(text: str) -> list[LogLine]:
    """The JSON objects among ``text``'s lines; other lines (tracebacks, warnings) are skipped."""
    lines: list[LogLine] = []
    for raw in text.splitlines():
        raw = raw.strip()
        if not raw.startswith("{"):
            continue
        try:
            value = json.loads(raw)
        except ValueError:
            continue
        if isinstance(value, dict):
            lines.append(value)
    return lines


@dataclass
class ServiceProcess:
    """One service: its fixed port, database, environment and (when running) its process."""

    name: str
    port: int
    database: str
    log_path: Path
    env: dict[str, str]
    process: ManagedProcess | None = None
    exit_codes: list[int] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.process.poll() is None

    def tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name} (code {code})"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class SuiteProcesses:
    """Starts, stops and inspects the Guild services as separate OS processes.

    Every service gets ``GUILD_GRPC_PORT`` (free port, kept across restarts), ``GUILD_MONGO_DB``
    (``it_<svc>_<run id>``, unique to this object), the shared ``GUILD_MONGO_URI`` and
    ``GUILD_NATS_URL`` (with ``GUILD_NATS_USER`` and ``GUILD_NATS_PASSWORD`` from ``nats_credentials[svc]``
    when given), ``GUILD_COMMUNITY_ADDR`` and ``GUILD_REPUTATION_ADDR`` pointing at those
    processes, quick outbox and consumer retry timings, and OTLP export to ``otlp_endpoint`` (if given).

    ``extra_env`` is added to every service's environment and ``service_env[svc]`` to one service's
    (both override the defaults), e.g. ``service_env={"content": {"GUILD_SERVICE_TOKEN": token}}``.
    To change a variable between restarts, edit ``env(svc)`` (a mutable dict) before ``start(svc)``.

    Must be used from a single event loop (the session loop under pytest-asyncio).
    """

    def __init__(
        self,
        *,
        mongo_uri: str,
        nats_url: str,
        work_dir: Path,
        otlp_endpoint: str | None = None,
        services: Sequence[str] = SERVICES,
        extra_env: Mapping[str, str] | None = None,
        service_env: Mapping[str, Mapping[str, str]] | None = None,
        nats_credentials: Mapping[str, tuple[str, str]] | None = None,
        run_id: str | None = None,
    ) -> None:
        unknown = [svc for svc in services if svc not in SERVICES]
        if unknown:
            raise ValueError(f"unknown services {unknown}; known: {SERVICES}")
        if not services:
            raise ValueError("no services to run")
        self.services: tuple[str, ...] = tuple(services)
        self.run_id = run_id or secrets.token_hex(4)
        self.mongo_uri = mongo_uri
        self.nats_url = nats_url
        self.otlp_endpoint = otlp_endpoint
        self.log_dir = work_dir / "logs"
        ports = {svc: free_port() for svc in self.services}
        # Content needs the community address even when community is not part of this suite.
        community_addr = f"127.0.0.1:{ports.get('community') or free_port()}"
        # Community asks reputation for goal progress.
        reputation_addr = f"127.0.0.1:{ports.get('reputation') or free_port()}"
        self._procs: dict[str, ServiceProcess] = {}
        for svc in self.services:
            database = f"it_{svc}_{self.run_id}"
            env = self._base_env()
            env.update(
                {
                    "GUILD_MONGO_URI": mongo_uri,
                    "GUILD_MONGO_DB": database,
                    "GUILD_NATS_URL": nats_url,
                    "GUILD_GRPC_HOST": "127.0.0.1",
                    "GUILD_GRPC_PORT": str(ports[svc]),
                    "GUILD_COMMUNITY_ADDR": community_addr,
                    "GUILD_REPUTATION_ADDR": reputation_addr,
                    "GUILD_OUTBOX_SWEEP_SECONDS": "0.5",
                    "GUILD_CONSUMER_BACKOFF_SECONDS": "[0.2,0.5,1.0]",
                    # Scenarios and load runs drive a service as a few callers at full speed; the
                    # per-caller rate limit is tested on its own (libs/common/tests/test_limits.py).
                    "GUILD_RATE_LIMIT_PER_SECOND": "0",
                    "PYTHONUNBUFFERED": "1",
                }
            )
            if otlp_endpoint:
                env.update(
                    {
                        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint,
                        "OTEL_EXPORTER_OTLP_INSECURE": "true",
                        "OTEL_BSP_SCHEDULE_DELAY": "200",
                        "OTEL_METRIC_EXPORT_INTERVAL": "5000",
                    }
                )
            user, password = (nats_credentials or {}).get(svc, ("", ""))
            if user:
                env.update({"GUILD_NATS_USER": user, "GUILD_NATS_PASSWORD": password})
            env.update(extra_env or {})
            env.update((service_env or {}).get(svc, {}))
            self._procs[svc] = ServiceProcess(
                name=svc,
                port=ports[svc],
                database=database,
                log_path=self.log_dir / f"{svc}.log",
                env=env,
            )
        self._channels: dict[str, grpc.aio.Channel] = {}

    @classmethod
    def for_infra(
        cls,
        infra: InfraLike,
        *,
        otlp_endpoint: str | None = None,
        services: Sequence[str] = SERVICES,
        **kwargs: Any,
    ) -> SuiteProcesses:
        """A suite on the test session's servers (the ``infra`` fixture)."""
        nats = {svc: infra.nats_settings(svc) for svc in services}
        return cls(
            mongo_uri=infra.mongo_uri,
            nats_url=nats[services[0]]["nats_url"] if services else infra.nats_url,
            nats_credentials={svc: (n["nats_user"], n["nats_password"]) for svc, n in nats.items()},
            work_dir=infra.work_dir,
            otlp_endpoint=otlp_endpoint,
            services=services,
            **kwargs,
        )

    @staticmethod
    def _base_env() -> dict[str, str]:
        return {key: os.environ[key] for key in _PASSTHROUGH_ENV if key in os.environ}

    # -- lookup ---------------------------------------------------------------------------------

    def _proc(self, svc: str) -> ServiceProcess:
        try:
            return self._procs[svc]
        except KeyError:
            raise KeyError(f"service {svc!r} is not in this suite ({', '.join(self.services)})") from None

    def address(self, svc: str) -> str:
        """``127.0.0.1:<port>`` of the service's gRPC server (stable across restarts)."""
        return self._proc(svc).address

    def port(self, svc: str) -> int:
        return self._proc(svc).port

    def database(self, svc: str) -> str:
        """The service's MongoDB database name (on ``mongo_uri``)."""
        return self._proc(svc).database

    def env(self, svc: str) -> dict[str, str]:
        """The environment the service is started with; edits apply at the next ``start``."""
        return self._proc(svc).env

    def log_path(self, svc: str) -> Path:
        return self._proc(svc).log_path

    def pid(self, svc: str) -> int | None:
        proc = self._proc(svc)
        return proc.process.process.pid if proc.running and proc.process else None

    def is_running(self, svc: str) -> bool:
        return self._proc(svc).running

    def exit_codes(self, svc: str) -> list[int]:
        """Exit codes of this service's previous runs, oldest first."""
        return list(self._proc(svc).exit_codes)

    def channel(self, svc: str) -> grpc.aio.Channel:
        """The suite's ``grpc.aio`` channel to the service: one per service, valid across restarts.

        It reconnects within about a second after ``start``; it is closed by ``aclose``.
        """
        address = self.address(svc)
        channel = self._channels.get(svc)
        if channel is None:
            channel = grpc.aio.insecure_channel(address, options=_CHANNEL_OPTIONS)
            self._channels[svc] = channel
        return channel

    # -- logs -----------------------------------------------------------------------------------

    def log_offset(self, svc: str) -> int:
        """The current size of the service's log; pass it as ``since`` to see only later lines."""
        try:
            return self.log_path(svc).stat().st_size
        except FileNotFoundError:
            return 0

    def log_text(self, svc: str, *, since: int = 0) -> str:
        try:
            with self.log_path(svc).open("rb") as log:
                log.seek(since)
                return log.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def log_lines(self, svc: str, *, since: int = 0) -> list[LogLine]:
        """The service's structlog JSON log lines (all runs, or after byte offset ``since``)."""
        return parse_log_lines(self.log_text(svc, since=since))

    def log_tail(self, svc: str, lines: int = 60) -> str:
        return self._proc(svc).tail(lines)

    async def wait_for_log(
        self,
        svc: str,
        predicate: Callable[[LogLine], bool],
        *,
        timeout: float = 10.0,
        since: int = 0,
        interval: float = 0.1,
    ) -> LogLine:
        """Wait for the first JSON log line of ``svc`` (after ``since``) with ``predicate(line)``."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log_lines(svc, since=since):
                if predicate(line):
                    return line
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"{svc}: no matching log line after {timeout}s; log tail:\n{self.log_tail(svc)}"
                )
            await asyncio.sleep(interval)

    # -- lifecycle ------------------------------------------------------------------------------

    async def start_all(self, *, timeout: float = START_TIMEOUT) -> None:
        """Start every service that is not running and wait until all report SERVING."""
        for svc in self.services:
            if not self.is_running(svc):
                self._spawn(svc)
        await asyncio.gather(*(self.wait_healthy(svc, timeout=timeout) for svc in self.services))

    async def start(self, svc: str, *, timeout: float = START_TIMEOUT) -> None:
        """Start one service (on its same port, database and log) and wait until it is SERVING."""
        if self.is_running(svc):
            raise RuntimeError(f"{svc} is already running (pid {self.pid(svc)})")
        self._spawn(svc)
        await self.wait_healthy(svc, timeout=timeout)

    async def restart(self, svc: str, *, timeout: float = START_TIMEOUT) -> None:
        """Gracefully stop (asserting exit code 0) and start one service."""
        await self.stop(svc)
        await self.start(svc, timeout=timeout)

    def _spawn(self, svc: str) -> None:
        proc = self._proc(svc)
        module = f"guild_{svc}"
        if not has_entrypoint(svc):
            raise RuntimeError(f"{module}.__main__ does not exist; cannot run `python -m {module}`")
        proc.log_path.parent.mkdir(parents=True, exist_ok=True)
        with proc.log_path.open("ab") as log:
            log.write(f"\n===== harness: starting {module} on {proc.address} =====\n".encode())
        proc.process = spawn(svc, [sys.executable, "-m", module], log_path=proc.log_path, env=proc.env)

    async def health(self, svc: str, *, timeout: float = 1.0) -> int:
        """One health check (service ``""``): the ``HealthCheckResponse.ServingStatus`` value."""
        stub = health_pb2_grpc.HealthStub(self.channel(svc))
        response = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        return int(response.status)

    async def wait_healthy(self, svc: str, *, timeout: float = START_TIMEOUT) -> None:
        """Poll the health service until SERVING; fail early if the process exits."""
        proc = self._proc(svc)
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while True:
            if proc.process is None:
                raise RuntimeError(f"{svc} was never started")
            code = proc.process.process.poll()
            if code is not None:
                proc.exit_codes.append(code)
                proc.process = None
                raise RuntimeError(
                    f"{svc} exited ({_describe_exit(code)}) before becoming healthy; log tail:\n{proc.tail()}"
                )
            try:
                status = await self.health(svc, timeout=1.0)
                if status == health_pb2.HealthCheckResponse.SERVING:
                    return
                last = f"status {health_pb2.HealthCheckResponse.ServingStatus.Name(status)}"
            except grpc.aio.AioRpcError as exc:
                last = f"{exc.code().name}: {exc.details()}"
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"{svc} on {proc.address} not SERVING after {timeout}s (last: {last}); log tail:\n"
                    f"{proc.tail()}"
                )
            await asyncio.sleep(0.2)

    async def _wait_exit(self, proc: ServiceProcess, timeout: float) -> int | None:
        assert proc.process is not None
        popen = proc.process.process
        try:
            return await asyncio.to_thread(popen.wait, timeout)
        except subprocess.TimeoutExpired:
            return None

    async def _terminate(
        self, svc: str, *, sig: signal.Signals, timeout: float, expect_code: int | None
    ) -> tuple[int, str | None]:
        """Signal the service and wait; returns its exit code and a failure description, if any."""
        proc = self._proc(svc)
        if proc.process is None:
            raise RuntimeError(f"{svc} is not running")
        managed = proc.process
        already = managed.process.poll()
        if already is None:
            managed.signal(sig)
        code = await self._wait_exit(proc, timeout)
        problem: str | None = None
        if already is not None:
            problem = f"{svc} had already exited ({_describe_exit(already)}) before {sig.name}"
            code = already
        elif code is None:
            managed.process.kill()
            code = await self._wait_exit(proc, 5.0)
            problem = f"{svc} did not exit within {timeout}s of {sig.name}; killed it"
            code = -signal.SIGKILL if code is None else code
        elif expect_code is not None and code != expect_code:
            problem = f"{svc} exited with {_describe_exit(code)} after {sig.name}, expected {expect_code}"
        proc.exit_codes.append(code)
        proc.process = None
        if problem is not None:
            problem = f"{problem}; log tail ({proc.log_path}):\n{proc.tail()}"
        return code, problem

    async def stop(
        self,
        svc: str,
        *,
        timeout: float = STOP_TIMEOUT,
        sig: signal.Signals = signal.SIGTERM,
        expect_code: int | None = 0,
    ) -> int:
        """Send ``sig`` (SIGTERM) and wait for the exit; returns the exit code.

        Raises ``AssertionError`` (with the log tail) if the service does not exit within
        ``timeout`` seconds or exits with a code other than ``expect_code`` (``None``: any code).
        """
        code, problem = await self._terminate(svc, sig=sig, timeout=timeout, expect_code=expect_code)
        if problem is not None:
            raise AssertionError(problem)
        return code

    async def kill(self, svc: str) -> int:
        """Crash the service with SIGKILL (no graceful shutdown); returns its exit code."""
        return await self.stop(svc, sig=signal.SIGKILL, expect_code=None)

    async def stop_all(self, *, timeout: float = STOP_TIMEOUT) -> dict[str, int]:
        """SIGTERM every running service at once; assert each exits with code 0 within ``timeout``.

        Returns the exit codes; raises one ``AssertionError`` describing every failure.
        """
        running = [svc for svc in self.services if self._proc(svc).process is not None]
        results = await asyncio.gather(
            *(self._terminate(svc, sig=signal.SIGTERM, timeout=timeout, expect_code=0) for svc in running)
        )
        problems = [problem for _, problem in results if problem is not None]
        if problems:
            raise AssertionError("graceful shutdown failed:\n\n" + "\n\n".join(problems))
        return {svc: code for svc, (code, _) in zip(running, results, strict=True)}

    async def aclose(self) -> None:
        """Close the channels and SIGKILL anything still running (cleanup; asserts nothing)."""
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
        for proc in self._procs.values():
            if proc.process is not None:
                if proc.process.process.poll() is None:
                    proc.process.process.kill()
                await asyncio.to_thread(proc.process.process.wait)
                proc.process = None
