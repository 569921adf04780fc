"""CloudEvents envelope, Kafka binding and the payload registry."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import ClassVar

import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from pydantic import ValidationError

from umkm_shared.events import (
    CloudEvent,
    EnvelopeError,
    EventPayload,
    InvalidPayload,
    UnknownEventType,
    all_payloads,
    from_kafka,
    make_event,
    parse_payload,
    payload_class,
    to_kafka,
)
from umkm_shared.events import base as event_base
from umkm_shared.events.registry import (
    REGISTRY_TOPIC,
    Certification,
    KbliRef,
    UmkmDeactivated,
    UmkmRegistered,
    UmkmScaleChanged,
    UmkmSnapshot,
    UmkmUpdated,
)
from umkm_shared.ids import new_id
from umkm_shared.messaging.kafka import KafkaBus, ensure_topics

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def snapshot(**overrides: object) -> UmkmSnapshot:
    now = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
    values: dict[str, object] = {
        "umkm_id": new_id(),
        "business_name": "Keripik Tempe Bu Sari",
        "owner_name": "Sari Wulandari",
        "owner_nik_hash": "ab" * 32,
        "owner_nik_masked": "3201************",
        "nib": "9120001234567",
        "npwp": None,
        "kbli_primary": KbliRef(version="2020", code="10792"),
        "kbli_others": [KbliRef(version="2020", code="47241")],
        "village_code": "32.01.01.2001",
        "district_code": "32.01.01",
        "regency_code": "32.01",
        "province_code": "32",
        "latitude": -6.59,
        "longitude": 106.8,
        "location_approximate": False,
        "address": "Jl. Pajajaran 1",
        "capital_idr": 50_000_000,
        "annual_sales_idr": 300_000_000,
        "scale": "mikro",
        "workforce": 4,
        "founded_on": date(2019, 5, 1),
        "products": ["keripik tempe"],
        "certifications": [Certification(kind="halal", number="ID3211", valid_until=None)],
        "status": "active",
        "version": 1,
        "registered_at": now,
        "updated_at": now,
    }
    values.update(overrides)
    return UmkmSnapshot.model_validate(values)


def test_registry_payloads_are_registered_with_versioned_types() -> None:
    types = {cls.type_name(): cls for cls in all_payloads()}
    assert types["id.umkm.registry.umkm.registered.v1"] is UmkmRegistered
    assert types["id.umkm.registry.umkm.updated.v1"] is UmkmUpdated
    assert types["id.umkm.registry.umkm.scale_changed.v1"] is UmkmScaleChanged
    assert types["id.umkm.registry.umkm.deactivated.v1"] is UmkmDeactivated
    assert all(
        cls.topic == REGISTRY_TOPIC for cls in types.values() if "registry" in cls.event_type
    )
    assert payload_class("id.umkm.registry.umkm.registered.v1") is UmkmRegistered
    with pytest.raises(UnknownEventType):
        payload_class("id.umkm.registry.umkm.registered.v9")


def test_message_key_is_the_aggregate_id_including_nested_paths() -> None:
    snap = snapshot()
    assert UmkmRegistered(umkm=snap).message_key() == str(snap.umkm_id)
    deactivated = UmkmDeactivated(
        umkm_id=snap.umkm_id,
        province_code="32",
        village_code="32.01.01.2001",
        reason="closed",
        deactivated_at=datetime.now(UTC),
    )
    assert deactivated.message_key() == str(snap.umkm_id)


@pytest.fixture
def scratch_registry() -> Iterator[None]:
    """Payload classes defined by a test are removed from the global registry afterwards."""
    before = dict(event_base._REGISTRY)
    yield
    event_base._REGISTRY.clear()
    event_base._REGISTRY.update(before)


@pytest.mark.usefixtures("scratch_registry")
def test_a_v2_is_a_new_class_and_consumers_get_the_exact_one() -> None:
    class _ProbeV1(EventPayload):
        event_type: ClassVar[str] = "id.umkm.test.probe"
        version: ClassVar[int] = 1
        topic: ClassVar[str] = "umkm.test.v1"
        key_field: ClassVar[str] = "probe_id"
        probe_id: uuid.UUID

    class _ProbeV2(EventPayload):
        event_type: ClassVar[str] = "id.umkm.test.probe"
        version: ClassVar[int] = 2
        topic: ClassVar[str] = "umkm.test.v1"
        key_field: ClassVar[str] = "probe_id"
        probe_id: uuid.UUID
        label: str

    assert payload_class("id.umkm.test.probe.v1") is _ProbeV1
    assert payload_class("id.umkm.test.probe.v2") is _ProbeV2
    event = make_event(_ProbeV2(probe_id=new_id(), label="x"), "/test")
    assert isinstance(parse_payload(event), _ProbeV2)

    with pytest.raises(TypeError, match="defined twice"):

        class _Clash(EventPayload):
            event_type: ClassVar[str] = "id.umkm.test.probe"
            version: ClassVar[int] = 1
            topic: ClassVar[str] = "umkm.test.v1"
            key_field: ClassVar[str] = "probe_id"
            probe_id: uuid.UUID

    with pytest.raises(TypeError, match="key_field"):

        class _BadKey(EventPayload):
            event_type: ClassVar[str] = "id.umkm.test.badkey"
            topic: ClassVar[str] = "umkm.test.v1"
            key_field: ClassVar[str] = "nope"
            probe_id: uuid.UUID


def test_make_event_fills_the_envelope_and_parse_payload_inverts_it() -> None:
    payload = UmkmRegistered(umkm=snapshot())
    event = make_event(payload, "/registry", traceparent=TRACEPARENT)
    assert uuid.UUID(event.id).version == 7
    assert event.type == "id.umkm.registry.umkm.registered.v1"
    assert event.source == "/registry"
    assert event.subject == str(payload.umkm.umkm_id)
    assert event.specversion == "1.0"
    assert event.time.tzinfo is not None and event.time.utcoffset() == timedelta(0)
    assert event.data["umkm"]["kbli_primary"] == {"version": "2020", "code": "10792"}
    assert parse_payload(event) == payload


def test_payload_times_must_be_aware_and_are_normalised_to_utc() -> None:
    wib = timezone(timedelta(hours=7))
    changed = UmkmScaleChanged(
        umkm_id=new_id(),
        province_code="32",
        previous_scale="mikro",
        new_scale="kecil",
        capital_idr=2_000_000_000,
        annual_sales_idr=None,
        changed_at=datetime(2026, 11, 27, 16, 0, tzinfo=wib),
    )
    assert changed.changed_at == datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    assert changed.changed_at.utcoffset() == timedelta(0)
    with pytest.raises(ValidationError):
        UmkmScaleChanged(
            umkm_id=new_id(),
            province_code="32",
            previous_scale=None,
            new_scale="kecil",
            capital_idr=None,
            annual_sales_idr=None,
            changed_at=datetime(2026, 11, 27, 16, 0),
        )
    with pytest.raises(ValidationError):
        snapshot(scale="raksasa")


def test_unknown_fields_are_ignored_and_invalid_data_is_reported() -> None:
    payload = UmkmRegistered(umkm=snapshot())
    event = make_event(payload, "/registry")
    newer = event.model_copy(update={"data": {**event.data, "added_later": 1}})
    assert parse_payload(newer) == payload
    broken = event.model_copy(update={"data": {"umkm": {"umkm_id": "not-a-uuid"}}})
    with pytest.raises(InvalidPayload, match=r"registered\.v1"):
        parse_payload(broken)


def test_kafka_binding_headers_and_round_trip() -> None:
    payload = UmkmRegistered(umkm=snapshot())
    event = make_event(payload, "/registry", traceparent=TRACEPARENT)
    message = to_kafka(event, payload.topic, payload.message_key())
    assert message.topic == REGISTRY_TOPIC
    assert message.key == str(payload.umkm.umkm_id).encode()
    assert orjson.loads(message.value) == event.data
    headers = dict(message.headers)
    assert headers["ce_id"] == event.id.encode()
    assert headers["ce_source"] == b"/registry"
    assert headers["ce_type"] == b"id.umkm.registry.umkm.registered.v1"
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_time"].endswith(b"Z")
    assert headers["ce_subject"] == message.key
    assert headers["content-type"] == b"application/json"
    assert headers["traceparent"] == TRACEPARENT.encode()
    assert all(isinstance(v, bytes) for v in headers.values())
    assert from_kafka(message.headers, message.value) == event


@pytest.mark.parametrize("missing", ["ce_id", "ce_source", "ce_type", "ce_specversion", "ce_time"])
def test_missing_required_header_is_a_clear_error(missing: str) -> None:
    event = make_event(UmkmRegistered(umkm=snapshot()), "/registry")
    message = to_kafka(event, REGISTRY_TOPIC, "k")
    headers = [(k, v) for k, v in message.headers if k != missing]
    with pytest.raises(EnvelopeError, match=f"missing header\\(s\\) {missing}"):
        from_kafka(headers, message.value)


def test_other_malformed_messages_are_rejected() -> None:
    event = make_event(UmkmRegistered(umkm=snapshot()), "/registry")
    message = to_kafka(event, REGISTRY_TOPIC, "k")
    with pytest.raises(EnvelopeError, match="missing header"):
        from_kafka([], b"{}")
    with pytest.raises(EnvelopeError, match="not valid JSON"):
        from_kafka(message.headers, b"{nope")
    with pytest.raises(EnvelopeError, match="JSON object"):
        from_kafka(message.headers, b"[1, 2]")
    wrong_version = [(k, b"0.3" if k == "ce_specversion" else v) for k, v in message.headers]
    with pytest.raises(EnvelopeError, match="specversion"):
        from_kafka(wrong_version, message.value)
    bad_time = [(k, b"yesterday" if k == "ce_time" else v) for k, v in message.headers]
    with pytest.raises(EnvelopeError, match="invalid CloudEvent attributes"):
        from_kafka(bad_time, message.value)


def test_structured_mode_is_accepted_when_reading() -> None:
    event = make_event(UmkmRegistered(umkm=snapshot()), "/registry")
    body = orjson.dumps(event.model_dump(mode="json"))
    decoded = from_kafka([("content-type", b"application/cloudevents+json")], body)
    assert decoded == event


def test_cloud_event_requires_aware_time() -> None:
    with pytest.raises(ValidationError):
        CloudEvent(id="1", source="/x", type="t", time=datetime(2026, 1, 1), data={})


async def test_envelope_round_trip_through_real_kafka(kafka_bootstrap: str) -> None:
    topic = f"test.envelope.{uuid.uuid4().hex[:10]}"
    await ensure_topics(kafka_bootstrap, [topic], partitions=1, dead_letter=False)
    payloads = [UmkmRegistered(umkm=snapshot()) for _ in range(3)]
    events = [make_event(p, "/registry", traceparent=TRACEPARENT) for p in payloads]
    bus = KafkaBus(kafka_bootstrap, "test-envelope")
    await bus.start()
    try:
        await bus.publish(
            [to_kafka(e, topic, p.message_key()) for e, p in zip(events, payloads, strict=True)]
        )
    finally:
        await bus.stop()

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    try:
        received = []
        async with asyncio.timeout(20):
            while len(received) < 3:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    received.extend(records)
    finally:
        await consumer.stop()
    decoded = [from_kafka(r.headers, r.value) for r in received]
    assert decoded == events
    assert [r.key for r in received] == [p.message_key().encode() for p in payloads]
    assert [parse_payload(e) for e in decoded] == payloads
