"""A real OTLP/gRPC receiver for tests: it records every exported span in memory.

The receiver is a synchronous ``grpc.server`` on its own threads, so it keeps accepting exports
while the test's event loop is busy or blocked (for instance while a service flushes its spans on
shutdown and the test waits for the process to exit).

Usage::

    with OtlpReceiver() as receiver:           # or receiver.start() / receiver.stop()
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}
        ...
        spans = await receiver.wait_for_span(service="guild-community", name="...", timeout=10)
        whole_trace = receiver.trace(spans[0].trace_id)

Metrics and logs exports are accepted and counted (``metrics_exports``, ``logs_exports``) but not
recorded, so services that export them do not log errors.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from guild_testing.processes import free_port

#: What ``wait_for`` predicates may return: a truthy bool, or the (non-empty) spans that matched.
PredicateResult = bool | Sequence["ReceivedSpan"] | None
Predicate = Callable[[list["ReceivedSpan"]], PredicateResult]

_KIND_NAMES = {
    trace_pb2.Span.SPAN_KIND_UNSPECIFIED: "UNSPECIFIED",
    trace_pb2.Span.SPAN_KIND_INTERNAL: "INTERNAL",
    trace_pb2.Span.SPAN_KIND_SERVER: "SERVER",
    trace_pb2.Span.SPAN_KIND_CLIENT: "CLIENT",
    trace_pb2.Span.SPAN_KIND_PRODUCER: "PRODUCER",
    trace_pb2.Span.SPAN_KIND_CONSUMER: "CONSUMER",
}
_STATUS_NAMES = {
    trace_pb2.Status.STATUS_CODE_UNSET: "UNSET",
    trace_pb2.Status.STATUS_CODE_OK: "OK",
    trace_pb2.Status.STATUS_CODE_ERROR: "ERROR",
}


@dataclass(frozen=True)
class SpanLink:
    trace_id: str
    span_id: str
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReceivedSpan:
    """One exported span, with ids as lowercase hex and attributes as plain Python values.

    ``kind`` is ``"SERVER"``, ``"CLIENT"``, ``"PRODUCER"``, ``"CONSUMER"``, ``"INTERNAL"`` or
    ``"UNSPECIFIED"``; ``status_code`` is ``"UNSET"``, ``"OK"`` or ``"ERROR"``. ``parent_span_id`` is
    ``""`` for a root span.
    """

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: str
    service_name: str
    attributes: dict[str, Any]
    status_code: str = "UNSET"
    status_message: str = ""
    start_time_unix_nano: int = 0
    end_time_unix_nano: int = 0
    scope_name: str = ""
    links: tuple[SpanLink, ...] = ()
    resource_attributes: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def is_root(self) -> bool:
        return not self.parent_span_id

    @property
    def duration_ms(self) -> float:
        return (self.end_time_unix_nano - self.start_time_unix_nano) / 1e6

    def summary(self) -> str:
        parent = self.parent_span_id[:8] or "root"
        return (
            f"{self.service_name or '?'} {self.kind} {self.name!r} trace={self.trace_id[:12]} "
            f"span={self.span_id[:8]} parent={parent} status={self.status_code}"
        )


def any_value(value: common_pb2.AnyValue) -> Any:
    """An OTLP ``AnyValue`` as a plain Python value."""
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return attributes_dict(value.kvlist_value.values)
    return getattr(value, which)


def attributes_dict(attributes: Iterable[common_pb2.KeyValue]) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in attributes}


def _convert(span: trace_pb2.Span, service_name: str, resource: dict[str, Any], scope: str) -> ReceivedSpan:
    return ReceivedSpan(
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_span_id=span.parent_span_id.hex(),
        name=span.name,
        kind=_KIND_NAMES.get(span.kind, str(span.kind)),
        service_name=service_name,
        attributes=attributes_dict(span.attributes),
        status_code=_STATUS_NAMES.get(span.status.code, str(span.status.code)),
        status_message=span.status.message,
        start_time_unix_nano=span.start_time_unix_nano,
        end_time_unix_nano=span.end_time_unix_nano,
        scope_name=scope,
        links=tuple(
            SpanLink(link.trace_id.hex(), link.span_id.hex(), attributes_dict(link.attributes))
            for link in span.links
        ),
        resource_attributes=resource,
    )


def matches(
    span: ReceivedSpan,
    *,
    service: str | None = None,
    name: str | None = None,
    name_contains: str | None = None,
    kind: str | None = None,
    trace_id: str | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> bool:
    """Whether ``span`` has every given property (``None`` means any)."""
    return (
        (service is None or span.service_name == service)
        and (name is None or span.name == name)
        and (name_contains is None or name_contains in span.name)
        and (kind is None or span.kind == kind.upper())
        and (trace_id is None or span.trace_id == trace_id)
        and all(span.attributes.get(k, _MISSING) == v for k, v in (attributes or {}).items())
    )


_MISSING = object()


def summarize(spans: Sequence[ReceivedSpan], *, limit: int = 60) -> str:
    """A readable, multi-line account of ``spans`` for assertion messages."""
    if not spans:
        return "no spans received"
    per_service = Counter(s.service_name or "?" for s in spans)
    lines = [
        f"{len(spans)} spans received ("
        + ", ".join(f"{svc}: {n}" for svc, n in sorted(per_service.items()))
        + ")"
    ]
    shown = spans[-limit:]
    if len(shown) < len(spans):
        lines.append(f"... last {len(shown)}:")
    lines.extend("  " + s.summary() for s in shown)
    return "\n".join(lines)


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, receiver: OtlpReceiver) -> None:
        self._receiver = receiver

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        received: list[ReceivedSpan] = []
        for resource_spans in request.resource_spans:
            resource = attributes_dict(resource_spans.resource.attributes)
            service_name = str(resource.get("service.name", ""))
            for scope_spans in resource_spans.scope_spans:
                scope = scope_spans.scope.name
                received.extend(_convert(s, service_name, resource, scope) for s in scope_spans.spans)
        self._receiver._add(received)
        return trace_service_pb2.ExportTraceServiceResponse()


class _MetricsService(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, receiver: OtlpReceiver) -> None:
        self._receiver = receiver

    def Export(
        self, request: metrics_service_pb2.ExportMetricsServiceRequest, context: grpc.ServicerContext
    ) -> metrics_service_pb2.ExportMetricsServiceResponse:
        self._receiver._count("metrics")
        return metrics_service_pb2.ExportMetricsServiceResponse()


class _LogsService(logs_service_pb2_grpc.LogsServiceServicer):
    def __init__(self, receiver: OtlpReceiver) -> None:
        self._receiver = receiver

    def Export(
        self, request: logs_service_pb2.ExportLogsServiceRequest, context: grpc.ServicerContext
    ) -> logs_service_pb2.ExportLogsServiceResponse:
        self._receiver._count("logs")
        return logs_service_pb2.ExportLogsServiceResponse()


class OtlpReceiver:
    """An OTLP/gRPC trace (and metrics/logs) receiver on ``127.0.0.1:<port>``, recording spans.

    ``endpoint`` is the value for ``OTEL_EXPORTER_OTLP_ENDPOINT`` (with
    ``OTEL_EXPORTER_OTLP_INSECURE=true``). All methods are thread-safe; ``wait_for`` and
    ``wait_for_span`` are coroutines that poll without blocking the event loop.
    """

    def __init__(self, port: int | None = None, *, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port or free_port()
        self._lock = threading.Lock()
        self._spans: list[ReceivedSpan] = []
        self._exports: Counter[str] = Counter()
        self._server: grpc.Server | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def endpoint(self) -> str:
        return f"http://{self.address}"

    def start(self) -> OtlpReceiver:
        if self._server is not None:
            return self
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="otlp-receiver"),
            options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)],
        )
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceService(self), server)  # type: ignore[no-untyped-call]
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_MetricsService(self), server)  # type: ignore[no-untyped-call]
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(_LogsService(self), server)  # type: ignore[no-untyped-call]
        bound = server.add_insecure_port(self.address)
        if bound == 0:
            raise RuntimeError(f"OTLP receiver could not bind {self.address}")
        self.port = bound
        server.start()
        self._server = server
        return self

    def stop(self, grace: float = 1.0) -> None:
        if self._server is not None:
            self._server.stop(grace).wait()
            self._server = None

    def __enter__(self) -> OtlpReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- recording ------------------------------------------------------------------------------

    def _add(self, spans: list[ReceivedSpan]) -> None:
        with self._lock:
            self._spans.extend(spans)
            self._exports["traces"] += 1

    def _count(self, signal: str) -> None:
        with self._lock:
            self._exports[signal] += 1

    @property
    def trace_exports(self) -> int:
        with self._lock:
            return self._exports["traces"]

    @property
    def metrics_exports(self) -> int:
        with self._lock:
            return self._exports["metrics"]

    @property
    def logs_exports(self) -> int:
        with self._lock:
            return self._exports["logs"]

    def clear(self) -> None:
        """Forget the spans received so far (export counters are kept)."""
        with self._lock:
            self._spans.clear()

    # -- queries --------------------------------------------------------------------------------

    def spans(self) -> list[ReceivedSpan]:
        """A copy of every span received so far, in arrival order."""
        with self._lock:
            return list(self._spans)

    def find(
        self,
        *,
        service: str | None = None,
        name: str | None = None,
        name_contains: str | None = None,
        kind: str | None = None,
        trace_id: str | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> list[ReceivedSpan]:
        """The spans received so far with every given property (see ``matches``)."""
        return [
            s
            for s in self.spans()
            if matches(
                s,
                service=service,
                name=name,
                name_contains=name_contains,
                kind=kind,
                trace_id=trace_id,
                attributes=attributes,
            )
        ]

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        """Every span of one trace received so far, ordered by start time."""
        return sorted(self.find(trace_id=trace_id), key=lambda s: s.start_time_unix_nano)

    def summary(self, spans: Sequence[ReceivedSpan] | None = None) -> str:
        return summarize(self.spans() if spans is None else spans)

    async def wait_for(
        self, predicate: Predicate, timeout: float = 10.0, *, interval: float = 0.05, message: str = ""
    ) -> list[ReceivedSpan]:
        """Poll until ``predicate(spans)`` is truthy, where ``spans`` is a copy of all spans so far.

        Returns what the predicate returned if that is a sequence of spans (so a predicate can
        return "the spans that matched"), otherwise all spans. Raises ``AssertionError`` with a
        summary of the received spans after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            snapshot = self.spans()
            result = predicate(snapshot)
            if result:
                return list(result) if isinstance(result, Sequence) else snapshot
            if time.monotonic() >= deadline:
                what = message or getattr(predicate, "__name__", "predicate")
                raise AssertionError(
                    f"OTLP receiver: {what} not satisfied after {timeout}s\n{summarize(snapshot)}"
                )
            await asyncio.sleep(interval)

    async def wait_for_span(
        self,
        *,
        service: str | None = None,
        name: str | None = None,
        name_contains: str | None = None,
        kind: str | None = None,
        trace_id: str | None = None,
        attributes: Mapping[str, Any] | None = None,
        count: int = 1,
        timeout: float = 10.0,
    ) -> list[ReceivedSpan]:
        """Wait until at least ``count`` spans have the given properties; return all that match."""
        criteria = {
            k: v
            for k, v in dict(
                service=service,
                name=name,
                name_contains=name_contains,
                kind=kind,
                trace_id=trace_id,
                attributes=attributes,
            ).items()
            if v is not None
        }

        def predicate(spans: list[ReceivedSpan]) -> list[ReceivedSpan] | None:
            found = [
                s
                for s in spans
                if matches(
                    s,
                    service=service,
                    name=name,
                    name_contains=name_contains,
                    kind=kind,
                    trace_id=trace_id,
                    attributes=attributes,
                )
            ]
            return found if len(found) >= count else None

        return await self.wait_for(
            predicate, timeout, message=f"at least {count} span(s) matching {criteria}"
        )
