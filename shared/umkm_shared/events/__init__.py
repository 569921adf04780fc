"""Event schemas shared by all services: the CloudEvents envelope and versioned payloads.

Importing this package imports every payload module in it, so the payload registry
(`all_payloads()`, `payload_class()`) and the AsyncAPI generator see every event. A service adds
its events by adding a module here (e.g. `clustering.py`) that defines `EventPayload` subclasses;
modules are discovered automatically, so no list needs editing (and parallel additions do not
conflict). Infrastructure modules (`base`, `envelope`, `asyncapi`) and `_private` ones are skipped.
"""

from __future__ import annotations

import importlib
import pkgutil

from umkm_shared.events.base import (
    EventPayload,
    InvalidPayload,
    UnknownEventType,
    UtcDatetime,
    all_payloads,
    make_event,
    parse_payload,
    payload_class,
)
from umkm_shared.events.envelope import CloudEvent, EnvelopeError, from_kafka, to_kafka

__all__ = [
    "CloudEvent",
    "EnvelopeError",
    "EventPayload",
    "InvalidPayload",
    "UnknownEventType",
    "UtcDatetime",
    "all_payloads",
    "from_kafka",
    "make_event",
    "parse_payload",
    "payload_class",
    "to_kafka",
]

_NOT_PAYLOAD_MODULES = frozenset({"base", "envelope", "asyncapi"})


def _import_payload_modules() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name in _NOT_PAYLOAD_MODULES:
            continue
        importlib.import_module(f"{__name__}.{info.name}")


_import_payload_modules()
