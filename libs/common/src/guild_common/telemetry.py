"""OpenTelemetry tracing and metrics, configured by the standard ``OTEL_*`` variables.

Spans and metrics are exported over OTLP/gRPC when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or the
signal-specific variable) is set; otherwise they are recorded in process only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from opentelemetry import metrics, trace
from opentelemetry.instrumentation.grpc import GrpcAioInstrumentorClient
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor


def _exporting(signal: str) -> bool:
    return (
        bool(
            os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
            or os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")
        )
        and os.environ.get(f"OTEL_{signal}_EXPORTER", "otlp") != "none"
    )


@dataclass
class Telemetry:
    """Providers owned by one process; ``shutdown`` flushes what is pending."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider

    def shutdown(self) -> None:
        self.tracer_provider.force_flush()
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


def setup_telemetry(service: str) -> Telemetry:
    """Install tracer and meter providers for ``guild-<service>`` and instrument gRPC clients."""
    resource = Resource.create({"service.name": f"guild-{service}", "service.namespace": "guild"})
    tracer_provider = TracerProvider(resource=resource)
    if _exporting("TRACES"):
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    readers: list[MetricReader] = []
    if _exporting("METRICS"):
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    # The server side is traced by the interceptor ``ServiceServer`` installs (it leaves health and
    # reflection alone); patching ``grpc.aio.server`` globally would also wrap ``Health/Watch``.
    GrpcAioInstrumentorClient().instrument()  # type: ignore[no-untyped-call]
    return Telemetry(tracer_provider, meter_provider)
