"""OpenTelemetry tracing: one tracer provider per process, exporting spans when configured.

Spans come from three places, all linked by the W3C `traceparent`:
- the HTTP middleware (`observability.ObservabilityMiddleware`): a SERVER span per request,
  continuing the caller's `traceparent` header;
- the outbox (`events.base.current_traceparent`): the active span's context goes into the
  event's `traceparent` (stored with the outbox row, sent as a Kafka header);
- the inbox consumer (`messaging.consumer`): a CONSUMER span per event, child of that context,
  so a request in one service and its effects in another share one trace.

`UMKM_OTEL_EXPORTER` (per service prefix, e.g. `REGISTRY_OTEL_EXPORTER`): `none` (default: ids
still propagate and appear in logs, nothing is exported), `console` (spans as JSON on stdout) or
`otlp` (OTLP/HTTP to `*_OTEL_ENDPOINT`, e.g. http://otel-collector:4318/v1/traces).
"""

from __future__ import annotations

import threading
from typing import Literal

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)

__all__ = ["OtelExporter", "configure_tracing", "tracer_provider"]

OtelExporter = Literal["none", "console", "otlp"]

_lock = threading.Lock()
_provider: TracerProvider | None = None
_exporting: set[tuple[str, str | None]] = set()  # (exporter, endpoint) already added


def tracer_provider() -> TracerProvider:
    """The process's SDK tracer provider (installed globally on first use)."""
    global _provider
    with _lock:
        if _provider is None:
            _provider = TracerProvider(resource=Resource.create({"service.name": "umkm"}))
            trace.set_tracer_provider(_provider)
        return _provider


def configure_tracing(service: str, exporter: OtelExporter, endpoint: str | None = None) -> None:
    """Install the SDK provider (so spans get real ids) and add the chosen exporter.

    Several services in one process (embedded mode) share the provider; each span carries the
    `service` attribute set by the middleware, since the OTel resource is per process; an
    exporter is added once per process."""
    provider = tracer_provider()
    with _lock:
        if exporter == "none" or (exporter, endpoint) in _exporting:
            return
        _exporting.add((exporter, endpoint))
    span_exporter: SpanExporter
    if exporter == "console":
        span_exporter = ConsoleSpanExporter(service_name=service)
        provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    elif exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        span_exporter = OTLPSpanExporter(endpoint=endpoint) if endpoint else OTLPSpanExporter()
        provider.add_span_processor(BatchSpanProcessor(span_exporter))
