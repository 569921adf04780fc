"""Structured logs: structlog for our code, the standard library (uvicorn, sqlalchemy,
aiokafka) routed through the same renderer. One JSON object per line in production.

Every line carries `timestamp`, `level`, `service`, `logger` and, inside a request or a
consumed message, `trace_id`/`span_id` (bound in contextvars by the observability middleware,
or taken from an active OpenTelemetry span when an instrumentation created one).

Logging is process-wide: in embedded mode the composition root calls `configure_logging` once
and each app binds its own `service` per request.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog
from opentelemetry import trace
from structlog.types import EventDict, Processor, WrappedLogger

_configured = False
_default_service = "umkm"

# Libraries that are chatty at INFO.
_QUIET_LOGGERS = {"sqlalchemy": logging.WARNING, "aiokafka": logging.WARNING}


def _add_service(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    event_dict.setdefault("service", _default_service)
    return event_dict


def _drop_color_message(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    event_dict.pop("color_message", None)  # uvicorn's duplicate of the message with ANSI codes
    return event_dict


def _add_otel_ids(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Prefer the ids of an active OpenTelemetry span (if an instrumentation made one)."""
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event_dict["trace_id"] = format(ctx.trace_id, "032x")
        event_dict["span_id"] = format(ctx.span_id, "016x")
    return event_dict


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_service,
        _add_otel_ids,
        structlog.stdlib.ExtraAdder(),
        _drop_color_message,
    ]


def configure_logging(
    *,
    service: str,
    level: str = "INFO",
    json: bool = True,
    force: bool = False,
    stream: TextIO | None = None,
) -> None:
    """Configure structlog and the stdlib root logger. A no-op when already configured,
    unless `force` (so an app factory may call it without overriding the process owner)."""
    global _configured, _default_service
    if _configured and not force:
        return
    _default_service = service
    shared = _shared_processors()
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )

    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    final: list[Processor] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if json:
        final.append(structlog.processors.format_exc_info)
    final.append(renderer)
    formatter = structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processors=final)

    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())

    # uvicorn installs its own handlers when given a log_config; route them through ours.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers = []
        lg.propagate = True
    # Our middleware writes one access line per request with route and trace id.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    root_level = logging.getLevelNamesMapping()[level.upper()]
    for name, quiet in _QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(max(quiet, root_level))
    _configured = True


def get_logger(name: str | None = None, **initial: Any) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name, **initial)
    return logger
