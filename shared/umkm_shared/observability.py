"""Health, readiness, Prometheus metrics and W3C trace context for every service app.

Metrics registry decision: one `CollectorRegistry` per app (`app.state.metrics`), never the
global default registry. In embedded mode four apps share one process; module-level metrics on
the default registry would be registered twice (ValueError: Duplicated timeseries) or mix the
four services' series on every `/metrics`. Each app's `/metrics` shows its own series (plus the
process collectors); HTTP series also carry a `service` label so merged views stay clear.

Tracing: each request gets a W3C `traceparent` (continued from the caller's header or new),
bound into structlog contextvars and echoed in the response header. No OpenTelemetry SDK is
configured here; if one is (FastAPI then creates spans natively), its ids are used instead.
Consumers continue a trace from Kafka headers with `trace_scope(headers.get("traceparent"))`.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from opentelemetry import propagate, trace
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    gc_collector,
    generate_latest,
    platform_collector,
    process_collector,
)
from prometheus_client.metrics import MetricWrapperBase
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from umkm_shared.errors import AppError, ServiceUnavailable
from umkm_shared.library_metrics import LIBRARY_REGISTRY

log = structlog.stdlib.get_logger("umkm_shared.http")
_tracer = trace.get_tracer("umkm_shared.http")

ReadinessCheck = Callable[[], Awaitable[bool]]
READINESS_TIMEOUT_S = 2.0
_QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

# ---------------------------------------------------------------------------------------------
# W3C trace context
# ---------------------------------------------------------------------------------------------

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")


@dataclass(frozen=True)
class TraceContext:
    trace_id: str  # 32 lowercase hex
    span_id: str  # 16 lowercase hex: this process's span
    parent_span_id: str | None = None
    flags: str = "01"

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"


def parse_traceparent(value: str | None) -> tuple[str, str, str] | None:
    """(trace_id, parent_span_id, flags) of a valid W3C traceparent, else None."""
    if not value:
        return None
    m = _TRACEPARENT.match(value.strip())
    if not m:
        return None
    version, trace_id, parent_id, flags, rest = m.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    if trace_id == "0" * 32 or parent_id == "0" * 16:
        return None
    return trace_id, parent_id, flags


def new_trace_context(traceparent: str | None = None) -> TraceContext:
    """A span of our own under the incoming parent, or a new trace if there is none.
    An active OpenTelemetry span (when an SDK is configured) wins."""
    otel = trace.get_current_span().get_span_context()
    if otel.is_valid:
        return TraceContext(
            format(otel.trace_id, "032x"),
            format(otel.span_id, "016x"),
            None,
            format(int(otel.trace_flags), "02x"),
        )
    parsed = parse_traceparent(traceparent)
    if parsed:
        trace_id, parent, flags = parsed
        return TraceContext(trace_id, secrets.token_hex(8), parent, flags)
    return TraceContext(secrets.token_hex(16), secrets.token_hex(8))


_current_trace: contextvars.ContextVar[TraceContext | None] = contextvars.ContextVar(
    "umkm_trace", default=None
)


def current_trace() -> TraceContext | None:
    return _current_trace.get()


def current_traceparent() -> str | None:
    """The header value to put on outgoing messages and calls (Kafka `traceparent` header)."""
    ctx = _current_trace.get()
    return ctx.traceparent if ctx else None


@contextmanager
def trace_scope(traceparent: str | None = None, **bind: Any) -> Iterator[TraceContext]:
    """Continue (or start) a trace for a unit of work: binds trace ids (and `bind`) into
    the logging contextvars and restores the previous values on exit."""
    ctx = new_trace_context(traceparent)
    token = _current_trace.set(ctx)
    tokens = structlog.contextvars.bind_contextvars(
        trace_id=ctx.trace_id, span_id=ctx.span_id, **bind
    )
    try:
        yield ctx
    finally:
        structlog.contextvars.reset_contextvars(**tokens)
        _current_trace.reset(token)


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------

_M = TypeVar("_M", bound=MetricWrapperBase)
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """One app's Prometheus registry with the HTTP metrics and get-or-create helpers."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        process_collector.ProcessCollector(registry=self.registry)
        platform_collector.PlatformCollector(registry=self.registry)
        gc_collector.GCCollector(registry=self.registry)
        self._metrics: dict[str, MetricWrapperBase] = {}
        self.http_duration = self.histogram(
            "http_server_request_duration_seconds",
            "HTTP request latency by route template",
            ("service", "method", "route", "status"),
            buckets=_LATENCY_BUCKETS,
        )
        self.http_in_flight = self.gauge(
            "http_server_active_requests", "HTTP requests in progress", ("service",)
        )

    def _get(self, cls: type[_M], name: str, doc: str, labels: tuple[str, ...], **kw: Any) -> _M:
        existing = self._metrics.get(name)
        if existing is None:
            existing = cls(name, doc, labels, registry=self.registry, **kw)
            self._metrics[name] = existing
        if not isinstance(existing, cls):
            raise ValueError(f"metric {name} already registered as {type(existing).__name__}")
        return existing

    def counter(self, name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
        return self._get(Counter, name, doc, labels)

    def gauge(self, name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
        return self._get(Gauge, name, doc, labels)

    def histogram(self, name: str, doc: str, labels: tuple[str, ...] = (), **kw: Any) -> Histogram:
        return self._get(Histogram, name, doc, labels, **kw)

    def render(self) -> bytes:
        return generate_latest(self.registry) + generate_latest(LIBRARY_REGISTRY)


# ---------------------------------------------------------------------------------------------
# Middleware: trace context, access log, latency histogram, last-resort 500
# ---------------------------------------------------------------------------------------------


def route_path(scope: Scope) -> str:
    """The request path relative to the app (mounted apps see their own paths)."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


_DOC_PATHS = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})


def _route_template(scope: Scope) -> str:
    """The matched route's template: a bounded label set, never raw paths with ids."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if isinstance(template, str):
        return template
    path = route_path(scope)  # FastAPI does not put its own docs routes in scope["route"]
    return path if path in _DOC_PATHS else "<unmatched>"


def internal_error_response(path: str, trace_id: str | None) -> Response:
    extra = {"trace_id": trace_id} if trace_id else {}
    body = AppError(detail="An unexpected error occurred.", extra=extra).problem(instance=path)
    return Response(orjson.dumps(body), status_code=500, media_type="application/problem+json")


class ObservabilityMiddleware:
    """Outermost app middleware (pure ASGI, so contextvars reach the endpoint)."""

    def __init__(self, app: ASGIApp, *, service: str, metrics: Metrics) -> None:
        self.app = app
        self.service = service
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"traceparent", b"").decode("latin-1") or None
        method: str = scope["method"]
        rel_path = route_path(scope)
        status = 500
        started = False
        t0 = time.perf_counter()
        in_flight = self.metrics.http_in_flight.labels(self.service)
        in_flight.inc()

        # Restored afterwards: dependencies bind request fields (client_id ...) that must not
        # outlive the request when the caller shares our context (in-process calls, tests).
        saved_log_context = structlog.contextvars.get_contextvars()
        parent = propagate.extract({"traceparent": incoming}) if incoming else None
        span_cm = _tracer.start_as_current_span(
            f"{method} {rel_path}",
            context=parent,
            kind=trace.SpanKind.SERVER,
            attributes={"service": self.service, "http.request.method": method},
        )
        try:
            with span_cm as span, trace_scope(incoming, service=self.service) as ctx:
                tp_header = (b"traceparent", ctx.traceparent.encode())
                # Inner layers (FastAPI makes its own OTel spans from this header) continue
                # under our span rather than beside it.
                scope = {
                    **scope,
                    "headers": [
                        *((k, v) for k, v in scope.get("headers") or [] if k != b"traceparent"),
                        tp_header,
                    ],
                }

                async def send_wrapper(message: Message) -> None:
                    nonlocal status, started
                    if message["type"] == "http.response.start":
                        started = True
                        status = message["status"]
                        message["headers"] = [*message.get("headers", []), tp_header]
                    await send(message)

                try:
                    await self.app(scope, receive, send_wrapper)
                except Exception:
                    status = 500
                    log.exception("unhandled_error", method=method, path=rel_path)
                    if not started:
                        response = internal_error_response(scope.get("path", ""), ctx.trace_id)
                        await response(scope, receive, send_wrapper)
                finally:
                    in_flight.dec()
                    self._record(scope, method, rel_path, status, time.perf_counter() - t0)
                    route = _route_template(scope)
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
                    span.set_attribute("http.response.status_code", status)
        finally:
            structlog.contextvars.clear_contextvars()
            structlog.contextvars.bind_contextvars(**saved_log_context)

    def _record(self, scope: Scope, method: str, path: str, status: int, elapsed: float) -> None:
        route = _route_template(scope)
        self.metrics.http_duration.labels(self.service, method, route, str(status)).observe(elapsed)
        getattr(log, "debug" if path in _QUIET_PATHS else "info")(
            "http_request",
            method=method,
            path=path,  # no query string: it may carry personal data
            route=route,
            status=status,
            duration_ms=round(elapsed * 1000, 2),
        )


# ---------------------------------------------------------------------------------------------
# /healthz, /readyz, /metrics
# ---------------------------------------------------------------------------------------------


async def _run_check(check: ReadinessCheck) -> bool:
    try:
        return bool(await asyncio.wait_for(check(), READINESS_TIMEOUT_S))
    except Exception:
        return False


async def run_readiness_checks(checks: Mapping[str, ReadinessCheck]) -> dict[str, bool]:
    names = list(checks)
    results = await asyncio.gather(*(_run_check(checks[n]) for n in names))
    return dict(zip(names, results, strict=True))


def health_router() -> APIRouter:
    """Routes read `app.state.readiness_checks` and `app.state.metrics` (set by the factory)."""
    router = APIRouter(tags=["operations"], include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz(request: Request) -> Response:
        checks: Mapping[str, ReadinessCheck] = getattr(request.app.state, "readiness_checks", {})
        results = await run_readiness_checks(checks)
        report = {name: "ok" if ok else "failed" for name, ok in results.items()}
        failed = [name for name, ok in results.items() if not ok]
        if failed:
            raise ServiceUnavailable(
                detail=f"Not ready: {', '.join(failed)} unavailable.",
                extra={"failed": failed, "checks": report},
            )
        return JSONResponse({"status": "ready", "checks": report})

    @router.get("/metrics")
    async def metrics(request: Request) -> Response:
        registry: Metrics = request.app.state.metrics
        return Response(registry.render(), media_type=CONTENT_TYPE_LATEST)

    return router
