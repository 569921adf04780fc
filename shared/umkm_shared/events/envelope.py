"""CloudEvents 1.0 envelope and its Kafka protocol binding (binary content mode).

Binary mode puts the context attributes in `ce_*` headers (UTF-8 strings) and only `data` in the
message value, here JSON encoded with orjson. `content-type` carries `datacontenttype`.

Choices beyond the letter of the spec, and why:
- `time` is required. CloudEvents makes it optional; every event of this platform has one and
  consumers use it (audit, "as of" reads), so a message without `ce_time` is rejected.
- Trace context travels in a plain `traceparent` header (what OpenTelemetry's Kafka
  instrumentations read and write) rather than `ce_traceparent`; both are accepted when reading.
- `to_kafka` returns a `BusMessage` (topic, key, value, headers) instead of a bare tuple, so the
  outbox relay hands it to any `EventBus` unchanged.
- `from_kafka` also accepts structured mode (`content-type: application/cloudevents+json`, the
  whole event as JSON in the value) so events from other producers can be read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from umkm_shared.messaging.bus import BusMessage

__all__ = [
    "REQUIRED_HEADERS",
    "CloudEvent",
    "EnvelopeError",
    "format_time",
    "from_kafka",
    "kafka_headers",
    "to_kafka",
]

JSON = "application/json"
STRUCTURED = "application/cloudevents+json"
REQUIRED_HEADERS = ("ce_id", "ce_source", "ce_type", "ce_specversion", "ce_time")


class EnvelopeError(ValueError):
    """A Kafka message that is not a valid CloudEvent of this platform."""


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 event with a JSON object as `data` and the `traceparent` extension."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, description="Unique per source; a UUIDv7 for our own events")
    source: str = Field(min_length=1, description="URI-reference of the producer, e.g. /registry")
    type: str = Field(min_length=1, description="e.g. id.umkm.registry.umkm.registered.v1")
    specversion: Literal["1.0"] = "1.0"
    time: AwareDatetime
    subject: str | None = None
    datacontenttype: str = JSON
    dataschema: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    traceparent: str | None = None

    @field_validator("time")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with microseconds and a `Z` suffix, as written to `ce_time`."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def kafka_headers(
    *,
    id: str,
    source: str,
    type: str,
    time: datetime | str,
    subject: str | None = None,
    dataschema: str | None = None,
    traceparent: str | None = None,
    datacontenttype: str = JSON,
) -> list[tuple[str, bytes]]:
    """The binary-mode headers of one event (shared by `to_kafka` and the outbox relay).

    `time` may be given already formatted (the relay has PostgreSQL format it).
    """
    headers = [
        ("ce_id", id.encode()),
        ("ce_source", source.encode()),
        ("ce_type", type.encode()),
        ("ce_specversion", b"1.0"),
        ("ce_time", (time if isinstance(time, str) else format_time(time)).encode()),
    ]
    if subject is not None:
        headers.append(("ce_subject", subject.encode()))
    if dataschema is not None:
        headers.append(("ce_dataschema", dataschema.encode()))
    headers.append(("content-type", datacontenttype.encode()))
    if traceparent:
        headers.append(("traceparent", traceparent.encode()))
    return headers


def to_kafka(event: CloudEvent, topic: str, key: str | bytes | None) -> BusMessage:
    """Encode an event as a Kafka message in binary content mode."""
    if event.datacontenttype != JSON:
        raise EnvelopeError(f"only {JSON} data is supported, not {event.datacontenttype!r}")
    return BusMessage(
        topic=topic,
        key=key.encode() if isinstance(key, str) else key,
        value=orjson.dumps(event.data),
        headers=kafka_headers(
            id=event.id,
            source=event.source,
            type=event.type,
            time=event.time,
            subject=event.subject,
            dataschema=event.dataschema,
            traceparent=event.traceparent,
        ),
    )


def from_kafka(
    headers: Iterable[tuple[str, bytes | None]] | Mapping[str, bytes | None], value: bytes | None
) -> CloudEvent:
    """Decode a Kafka message (binary or structured mode) into a `CloudEvent`.

    Raises `EnvelopeError` naming what is wrong (missing `ce_*` headers, bad JSON, ...).
    """
    items = headers.items() if isinstance(headers, Mapping) else headers
    # Last occurrence wins, as in most Kafka header readers.
    h: dict[str, str] = {}
    for name, raw in items:
        if raw is None:
            continue
        try:
            h[name.lower()] = raw.decode()
        except UnicodeDecodeError as exc:
            raise EnvelopeError(f"header {name!r} is not UTF-8") from exc
    content_type = h.get("content-type", JSON)
    if content_type.split(";", 1)[0].strip() == STRUCTURED:
        return _structured(value)

    missing = [name for name in REQUIRED_HEADERS if not h.get(name)]
    if missing:
        raise EnvelopeError(
            "Kafka message is not a CloudEvent in binary mode: missing header(s) "
            + ", ".join(missing)
        )
    if h["ce_specversion"] != "1.0":
        raise EnvelopeError(f"unsupported CloudEvents specversion {h['ce_specversion']!r}")
    if content_type.split(";", 1)[0].strip() != JSON:
        raise EnvelopeError(f"unsupported content-type {content_type!r}; expected {JSON}")
    data = _json_object(value, "message value")
    try:
        return CloudEvent(
            id=h["ce_id"],
            source=h["ce_source"],
            type=h["ce_type"],
            time=h["ce_time"],  # pydantic parses RFC 3339
            subject=h.get("ce_subject"),
            dataschema=h.get("ce_dataschema"),
            datacontenttype=JSON,
            data=data,
            traceparent=h.get("traceparent") or h.get("ce_traceparent"),
        )
    except ValidationError as exc:
        raise EnvelopeError(f"invalid CloudEvent attributes: {exc}") from exc


def _structured(value: bytes | None) -> CloudEvent:
    doc = _json_object(value, "structured CloudEvent")
    known = set(CloudEvent.model_fields)
    try:
        return CloudEvent.model_validate({k: v for k, v in doc.items() if k in known})
    except ValidationError as exc:
        raise EnvelopeError(f"invalid structured CloudEvent: {exc}") from exc


def _json_object(value: bytes | None, what: str) -> dict[str, Any]:
    if not value:
        return {}
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise EnvelopeError(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise EnvelopeError(f"{what} must be a JSON object, got {type(data).__name__}")
    return data
