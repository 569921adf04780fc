"""Event payloads: versioned Pydantic models and the registry of every payload class.

A payload class names its CloudEvents `type`, its Kafka topic and which attribute is the message
key (the aggregate id, so one entity's events keep their order on one partition):

    class UmkmDeactivated(EventPayload):
        event_type: ClassVar[str] = "id.umkm.registry.umkm.deactivated"
        version: ClassVar[int] = 1
        topic: ClassVar[str] = "umkm.registry.v1"
        key_field: ClassVar[str] = "umkm_id"
        umkm_id: UUID
        ...

The wire type is `f"{event_type}.v{version}"`. A breaking change is a new class with
`version = 2` (both classes stay registered while consumers migrate); an additive, optional field
may go into the existing version, since payloads ignore unknown fields when parsed.

Classes register themselves when they are defined (`__pydantic_init_subclass__`), so importing a
payload module is all it takes; `umkm_shared.events` imports every payload module of the package.
`key_field` may be a dotted path ("umkm.umkm_id") for payloads that carry a nested snapshot.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from operator import attrgetter
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, ValidationError

from umkm_shared.events.envelope import CloudEvent
from umkm_shared.ids import new_id

__all__ = [
    "EventPayload",
    "InvalidPayload",
    "UnknownEventType",
    "UtcDatetime",
    "all_payloads",
    "make_event",
    "parse_payload",
    "payload_class",
]


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A timezone-aware datetime, normalised to UTC (naive datetimes are rejected)."""


class UnknownEventType(LookupError):
    """No payload class is registered for this CloudEvents type."""

    def __init__(self, type_name: str) -> None:
        super().__init__(f"no event payload class registered for type {type_name!r}")
        self.type_name = type_name


class InvalidPayload(ValueError):
    """The event's data does not validate against the payload class of its type."""

    def __init__(self, type_name: str, error: ValidationError) -> None:
        super().__init__(f"data of event type {type_name!r} is invalid: {error}")
        self.type_name = type_name
        self.error = error


_REGISTRY: dict[str, type[EventPayload]] = {}


class EventPayload(BaseModel):
    """Base of every event payload (the CloudEvent's `data`)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: ClassVar[str] = ""
    version: ClassVar[int] = 1
    topic: ClassVar[str] = ""
    key_field: ClassVar[str] = ""
    _key_getter: ClassVar[Callable[[Any], Any]]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if not cls.event_type:  # an abstract intermediate base
            return
        if not cls.topic or not cls.key_field:
            raise TypeError(f"{cls.__qualname__}: event payloads need `topic` and `key_field`")
        if cls.version < 1:
            raise TypeError(f"{cls.__qualname__}: version must be >= 1")
        head = cls.key_field.split(".", 1)[0]
        if head not in cls.model_fields:
            raise TypeError(f"{cls.__qualname__}: key_field {cls.key_field!r} is not a field")
        cls._key_getter = attrgetter(cls.key_field)  # handles dotted paths
        name = cls.type_name()
        existing = _REGISTRY.get(name)
        if existing is not None and (existing.__module__, existing.__qualname__) != (
            cls.__module__,
            cls.__qualname__,
        ):
            raise TypeError(
                f"event type {name!r} is defined twice: {existing.__module__}."
                f"{existing.__qualname__} and {cls.__module__}.{cls.__qualname__}"
            )
        _REGISTRY[name] = cls

    @classmethod
    def type_name(cls) -> str:
        """The CloudEvents `type` on the wire, e.g. `id.umkm.registry.umkm.registered.v1`."""
        return f"{cls.event_type}.v{cls.version}"

    def message_key(self) -> str:
        """The Kafka message key: the value at `key_field` (the aggregate id) as a string."""
        return str(type(self)._key_getter(self))


def payload_class(type_name: str) -> type[EventPayload]:
    """The payload class of an exact wire type (raises `UnknownEventType`)."""
    try:
        return _REGISTRY[type_name]
    except KeyError:
        raise UnknownEventType(type_name) from None


def all_payloads() -> list[type[EventPayload]]:
    """Every registered payload class, sorted by topic then type (deterministic)."""
    return sorted(_REGISTRY.values(), key=lambda c: (c.topic, c.type_name()))


def make_event(
    payload: EventPayload,
    source: str,
    subject: str | None = None,
    *,
    id: uuid.UUID | None = None,
    time: datetime | None = None,
    traceparent: str | None = None,
) -> CloudEvent:
    """Wrap a payload in a CloudEvent.

    `subject` defaults to the message key (the aggregate id); `traceparent` defaults to the
    current OpenTelemetry span's context, if one is active.
    """
    if not payload.event_type:
        raise TypeError(f"{type(payload).__qualname__} is not a concrete event payload")
    return CloudEvent(
        id=str(id or new_id()),
        source=source,
        type=payload.type_name(),
        time=time or datetime.now(UTC),
        subject=subject if subject is not None else payload.message_key(),
        data=payload.model_dump(mode="json"),
        traceparent=traceparent if traceparent is not None else current_traceparent(),
    )


def parse_payload(event: CloudEvent) -> EventPayload:
    """The typed payload of an event (`UnknownEventType`, `InvalidPayload` on failure)."""
    cls = payload_class(event.type)
    try:
        return cls.model_validate(event.data)
    except ValidationError as exc:
        raise InvalidPayload(event.type, exc) from exc


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the active OpenTelemetry span, or None."""
    from opentelemetry import propagate

    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if "traceparent" in carrier:
        return carrier["traceparent"]
    # No OpenTelemetry span (e.g. a background job): the request's own trace context, if any.
    from umkm_shared.observability import current_traceparent as request_traceparent

    return request_traceparent()
