"""Outbox, relay and inbox consumer on real PostgreSQL, with real Kafka and the in-process bus:
nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from messaging_support import FAST, wait_until
from sqlalchemy import Column, Integer, MetaData, Table, Text, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from umkm_shared.db import Database
from umkm_shared.events import CloudEvent, EventPayload, from_kafka, make_event, to_kafka
from umkm_shared.events import base as event_base
from umkm_shared.messaging.bus import BusMessage, EventBus, dlq_topic
from umkm_shared.messaging.consumer import EventConsumer
from umkm_shared.messaging.inprocess import InProcessBus
from umkm_shared.messaging.kafka import KafkaBus
from umkm_shared.messaging.outbox import Outbox, notify_channel_for, purge_published
from umkm_shared.messaging.relay import OutboxRelay
from umkm_shared.messaging.tables import (
    MessagingTables,
    create_messaging_tables,
    define_messaging_tables,
    drop_messaging_tables,
)


def hexid() -> str:
    return uuid.uuid4().hex[:10]


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def db(make_database: Callable[[str], Awaitable[str]]) -> AsyncIterator[Database]:
    database = Database(await make_database("messaging"))
    yield database
    await database.dispose()


@dataclass
class Env:
    """One test's own schema (outbox, inbox, an effects table), topic, payload class and bus."""

    db: Database
    tables: MessagingTables
    effects: Table
    payload: type[EventPayload]
    topic: str
    source: str
    bus: EventBus

    def outbox(self) -> Outbox:
        return Outbox(self.tables, self.source)

    def relay(self, cls: type[OutboxRelay] = OutboxRelay, **kwargs: Any) -> OutboxRelay:
        return cls(self.db, self.tables, self.bus, source=self.source, **kwargs)

    def event(self, n: int, key: uuid.UUID | None = None) -> EventPayload:
        return self.payload(item_id=key or uuid.uuid4(), n=n)  # type: ignore[call-arg]

    async def scalar(self, query: Any) -> Any:
        async with self.db.session() as session:
            return (await session.execute(query)).scalar_one()

    async def effect_count(self) -> int:
        return int(await self.scalar(select(func.count()).select_from(self.effects)))

    async def inbox_rows(self, group: str) -> list[Any]:
        inbox = self.tables.inbox
        async with self.db.session() as session:
            query = select(inbox).where(inbox.c.consumer_group == group)
            return list((await session.execute(query)).all())

    async def topic_messages(self, topic: str | None = None) -> list[BusMessage]:
        """Everything on the topic right now (the raw log, duplicates included)."""
        topic = topic or self.topic
        if isinstance(self.bus, InProcessBus):
            return self.bus.messages(topic)
        assert isinstance(self.bus, KafkaBus)
        return await read_kafka_topic(self.bus.bootstrap_servers, topic)

    def apply_handler(self, calls: list[str] | None = None) -> Any:
        effects = self.effects

        async def handler(session: AsyncSession, payload: Any, event: CloudEvent) -> None:
            if calls is not None:
                calls.append(event.id)
            await session.execute(effects.insert().values(event_id=event.id, note=str(payload.n)))

        return handler


async def read_kafka_topic(servers: list[str], topic: str) -> list[BusMessage]:
    consumer = AIOKafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        out: list[BusMessage] = []
        async with asyncio.timeout(20):
            while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    out.extend(
                        BusMessage(r.topic, r.key, r.value, list(r.headers), r.partition, r.offset)
                        for r in records
                    )
        return out
    finally:
        await consumer.stop()


@pytest.fixture(params=["kafka", "inprocess"])
async def env(request: pytest.FixtureRequest, db: Database) -> AsyncIterator[Env]:
    suffix = hexid()
    topic = f"test.outbox.{suffix}"

    # A payload class of its own per test: its own topic and wire type.
    class Probe(EventPayload):
        event_type: ClassVar[str] = f"id.umkm.test.probe_{suffix}"
        version: ClassVar[int] = 1
        topic: ClassVar[str] = f"test.outbox.{suffix}"
        key_field: ClassVar[str] = "item_id"
        item_id: uuid.UUID
        n: int

    schema = f"t_{suffix}"
    metadata = MetaData(schema=schema)
    tables = define_messaging_tables(metadata)
    effects = Table(
        "effects",
        metadata,
        Column("event_id", Text, primary_key=True),  # applying twice would violate this
        Column("note", Text),
    )
    async with db.engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await conn.run_sync(metadata.create_all)

    if request.param == "kafka":
        kafka_bootstrap = request.getfixturevalue("kafka_bootstrap")
        bus: EventBus = KafkaBus(kafka_bootstrap, f"test-{suffix}")
        await bus.start()
        await bus.ensure_topics([topic], partitions=3)
    else:
        bus = InProcessBus()
    try:
        yield Env(db, tables, effects, Probe, topic, f"/test-{suffix}", bus)
    finally:
        await bus.stop()
        event_base._REGISTRY.pop(Probe.type_name(), None)
        async with db.engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


# -- outbox and relay -------------------------------------------------------------------------


async def test_relay_publishes_committed_rows_with_ce_headers_and_marks_them(env: Env) -> None:
    outbox = env.outbox()
    async with env.db.transaction() as session:
        events = [await outbox.enqueue(session, env.event(i)) for i in range(3)]
    with pytest.raises(RuntimeError, match="rolled back"):
        async with env.db.transaction() as session:
            await outbox.enqueue(session, env.event(99))
            raise RuntimeError("rolled back")

    relay = env.relay()
    assert await relay.publish_pending() == 3
    assert await relay.publish_pending() == 0

    messages = await env.topic_messages()
    assert len(messages) == 3
    decoded = {m.header("ce_id"): (m, from_kafka(m.headers, m.value)) for m in messages}
    assert set(decoded) == {e.id.encode() for e in events}
    for event in events:
        message, received = decoded[event.id.encode()]
        assert received == event  # id, source, type, time, subject, data all survive
        # Byte for byte the headers `to_kafka` writes (the relay builds them from SQL values).
        assert message.headers == to_kafka(event, env.topic, event.subject).headers
        assert message.key == event.subject.encode()  # type: ignore[union-attr]
        assert message.header("ce_specversion") == b"1.0"
        assert message.header("content-type") == b"application/json"

    outbox_table = env.tables.outbox
    async with env.db.session() as session:
        rows = (await session.execute(select(outbox_table))).all()
    assert len(rows) == 3  # the rolled-back event never reached the table
    assert all(r.published_at is not None and r.attempts == 1 for r in rows)


@pytest.mark.parametrize("crash", ["raise", "cancel"])
async def test_crash_between_publish_and_mark_publishes_twice_and_applies_once(
    env: Env, crash: str
) -> None:
    """The issue's required case: the relay dies after the bus acknowledged and before it
    marked the rows sent; a restarted relay publishes them again; the consumer applies once."""
    acknowledged = asyncio.Event()

    class DyingRelay(OutboxRelay):
        async def _mark_published(self, session: AsyncSession, ids: list[Any]) -> None:
            acknowledged.set()  # bus.publish has returned: every message is acknowledged
            if crash == "raise":
                raise RuntimeError("relay process died")
            await asyncio.Event().wait()  # hang here until the task is cancelled (killed)

    group = f"g-{hexid()}"
    consumer = EventConsumer(
        env.db, env.tables, env.bus, group, [env.topic], {env.payload: env.apply_handler()}
    )
    await consumer.start()
    try:
        async with env.db.transaction() as session:
            event = await env.outbox().enqueue(session, env.event(1))

        dying = env.relay(DyingRelay)
        if crash == "raise":
            with pytest.raises(RuntimeError, match="died"):
                await dying.publish_pending()
        else:
            task = asyncio.create_task(dying.publish_pending())
            await asyncio.wait_for(acknowledged.wait(), 10)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        assert acknowledged.is_set()
        outbox = env.tables.outbox
        assert await env.scalar(select(outbox.c.published_at)) is None  # not marked

        assert await env.relay().publish_pending() == 1  # the restarted relay
        assert await env.scalar(select(outbox.c.published_at)) is not None

        on_bus = await env.topic_messages()
        assert [m.header("ce_id") for m in on_bus] == [event.id.encode()] * 2  # published twice
        await wait_until(lambda: consumer.stats.applied + consumer.stats.duplicates == 2)
    finally:
        await consumer.stop()
    assert consumer.stats.applied == 1 and consumer.stats.duplicates == 1
    assert await env.effect_count() == 1  # applied exactly once
    rows = await env.inbox_rows(group)
    assert [(r.event_id, r.outcome) for r in rows] == [(event.id, "applied")]


async def test_enqueue_many_copies_in_order_and_relay_drains_in_batches(env: Env) -> None:
    keys = [uuid.uuid4() for _ in range(5)]
    payloads = [env.event(i, key=keys[i % 5]) for i in range(250)]
    async with env.db.transaction() as session:
        ids = await env.outbox().enqueue_many(session, payloads)
    assert ids == sorted(ids) and len(set(ids)) == 250

    relay = env.relay(batch_size=100)
    assert [await relay.publish_pending() for _ in range(4)] == [100, 100, 50, 0]
    messages = await env.topic_messages()
    assert len(messages) == 250
    by_key: dict[bytes, list[int]] = {}
    for m in sorted(messages, key=lambda m: (m.partition or 0, m.offset or 0)):
        by_key.setdefault(m.key or b"", []).append(from_kafka(m.headers, m.value).data["n"])
    assert {k.decode() for k in by_key} == {str(k) for k in keys}
    assert all(ns == sorted(ns) and len(ns) == 50 for ns in by_key.values())  # order per key
    first = from_kafka(messages[0].headers, messages[0].value)
    assert first.source == env.source and first.subject == messages[0].key.decode()  # type: ignore[union-attr]

    async with env.db.transaction() as session:
        assert await purge_published(session, env.tables, older_than=timedelta(0)) == 250


async def test_drain_pipelines_batches_in_order_and_survives_a_failed_publish(env: Env) -> None:
    keys = [uuid.uuid4() for _ in range(3)]
    async with env.db.transaction() as session:
        await env.outbox().enqueue_many(
            session, [env.event(i, key=keys[i % 3]) for i in range(230)]
        )

    real_publish = env.bus.publish
    calls = 0

    async def third_call_fails(messages: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise ConnectionError("broker went away")
        await real_publish(messages)

    env.bus.publish = third_call_fails  # type: ignore[method-assign]
    relay = env.relay(batch_size=50)
    with pytest.raises(ConnectionError):
        await relay.drain()
    outbox = env.tables.outbox
    pending = select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
    assert await env.scalar(pending) == 130  # two batches went out and were marked
    failed = select(func.count()).select_from(outbox).where(outbox.c.last_error.is_not(None))
    assert await env.scalar(failed) == 50  # the failed batch's attempt is recorded

    assert await relay.drain() == 130
    assert await env.scalar(pending) == 0
    messages = await env.topic_messages()
    numbers = [from_kafka(m.headers, m.value).data["n"] for m in messages]
    assert sorted(numbers) == list(range(230))  # none lost, none doubled
    by_key: dict[bytes, list[int]] = {}
    for m in sorted(messages, key=lambda m: (m.partition or 0, m.offset or 0)):
        by_key.setdefault(m.key or b"", []).append(from_kafka(m.headers, m.value).data["n"])
    assert all(ns == sorted(ns) for ns in by_key.values())


async def test_enqueue_many_as_first_statement_of_a_rolled_back_transaction_leaves_nothing(
    env: Env,
) -> None:
    with pytest.raises(RuntimeError, match="abort"):
        async with env.db.transaction() as session:
            await env.outbox().enqueue_many(session, [env.event(i) for i in range(5)])
            raise RuntimeError("abort")
    outbox = env.tables.outbox
    assert await env.scalar(select(func.count()).select_from(outbox)) == 0
    assert await env.relay().publish_pending() == 0


async def test_relay_loop_wakes_on_notify_and_a_second_replica_stands_by(env: Env) -> None:
    first = env.relay(idle_poll_seconds=30, lock_retry_seconds=0.1)
    second = env.relay(idle_poll_seconds=30, lock_retry_seconds=0.1)
    await first.start()
    await wait_until(lambda: first.active)
    await second.start()
    await asyncio.sleep(0.3)
    assert first.active and not second.active  # one publisher per service
    try:
        outbox = env.tables.outbox
        pending = select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
        async with env.db.transaction() as session:
            await env.outbox().enqueue(session, env.event(1))
        started = time.monotonic()
        while await env.scalar(pending):  # far sooner than the 30 s poll: NOTIFY woke it
            assert time.monotonic() - started < 10
            await asyncio.sleep(0.02)

        await first.stop()
        await wait_until(lambda: second.active)  # the standby takes over
        async with env.db.transaction() as session:
            await env.outbox().enqueue(session, env.event(2))
        started = time.monotonic()
        while await env.scalar(pending):
            assert time.monotonic() - started < 10
            await asyncio.sleep(0.02)
    finally:
        await first.stop()
        await second.stop()
    assert len(await env.topic_messages()) == 2


# -- inbox consumer ---------------------------------------------------------------------------


async def publish_events(env: Env, count: int, start: int = 0) -> list[CloudEvent]:
    async with env.db.transaction() as session:
        events = [await env.outbox().enqueue(session, env.event(start + i)) for i in range(count)]
    relay = env.relay()
    while await relay.publish_pending():
        pass
    return events


async def test_handler_failing_first_times_is_retried_and_applied_once(env: Env) -> None:
    attempts: list[str] = []
    effects = env.effects

    async def flaky(session: AsyncSession, payload: Any, event: CloudEvent) -> None:
        attempts.append(event.id)
        await session.execute(effects.insert().values(event_id=event.id, note="x"))
        if attempts.count(event.id) <= 2:  # the effect above must be rolled back
            raise RuntimeError("flaky")

    group = f"g-{hexid()}"
    consumer = EventConsumer(env.db, env.tables, env.bus, group, None, {env.payload: flaky}, **FAST)
    assert consumer.topics == (env.topic,)
    await consumer.start()
    try:
        events = await publish_events(env, 2)
        await wait_until(lambda: consumer.stats.applied == 2)
    finally:
        await consumer.stop()
    assert sorted(attempts) == sorted([e.id for e in events] * 3)
    assert await env.effect_count() == 2
    assert len(await env.inbox_rows(group)) == 2


async def test_always_failing_event_is_dead_lettered_and_the_consumer_moves_on(env: Env) -> None:
    effects = env.effects

    async def picky(session: AsyncSession, payload: Any, event: CloudEvent) -> None:
        await session.execute(effects.insert().values(event_id=event.id, note=str(payload.n)))
        if payload.n == 0:
            raise ValueError("n must not be zero")

    group = f"g-{hexid()}"
    handlers = {env.payload.type_name(): picky}  # keyed by wire type this time
    consumer = EventConsumer(
        env.db, env.tables, env.bus, group, [env.topic], handlers, max_retries=2, **FAST
    )
    await consumer.start()
    try:
        # One key, so "bad" is followed by "good" on the same partition.
        key = uuid.uuid4()
        async with env.db.transaction() as session:
            bad = await env.outbox().enqueue(session, env.event(0, key=key))
            good = await env.outbox().enqueue(session, env.event(1, key=key))
        await env.relay().publish_pending()
        await wait_until(lambda: consumer.stats.applied == 1)
    finally:
        await consumer.stop()
    assert [r.event_id for r in await env.inbox_rows(group)] == [good.id]  # bad rolled back
    assert await env.effect_count() == 1

    # The DLQ message was acknowledged before the bad event's offset was committed, and the
    # good event behind it was applied after that: it is there now.
    dead = await env.topic_messages(dlq_topic(env.topic))
    assert len(dead) == 1
    letter = dead[0]
    assert letter.header("ce_id") == bad.id.encode()
    assert letter.header("dlq_error") == b"ValueError: n must not be zero"
    assert letter.header("dlq_group") == group.encode()
    assert letter.header("dlq_original_topic") == env.topic.encode()
    assert letter.header("dlq_original_offset") is not None


async def test_consumer_restart_resumes_after_committed_offset(env: Env) -> None:
    group = f"g-{hexid()}"
    calls: list[str] = []
    consumer = EventConsumer(
        env.db, env.tables, env.bus, group, None, {env.payload: env.apply_handler(calls)}
    )
    await consumer.start()
    try:
        first = await publish_events(env, 4)
        await wait_until(lambda: consumer.stats.applied == 4)
    finally:
        await consumer.stop()

    second = await publish_events(env, 3, start=10)
    restarted = EventConsumer(
        env.db, env.tables, env.bus, group, None, {env.payload: env.apply_handler(calls)}
    )
    await restarted.start()
    try:
        await wait_until(lambda: restarted.stats.applied == 3)
        await asyncio.sleep(0.3)
    finally:
        await restarted.stop()
    assert restarted.stats.duplicates == 0  # nothing before the committed offset came back
    assert sorted(calls) == sorted(e.id for e in first + second)
    assert await env.effect_count() == 7


async def test_unknown_types_are_recorded_and_skipped_and_garbage_is_dead_lettered(
    env: Env,
) -> None:
    group = f"g-{hexid()}"
    consumer = EventConsumer(
        env.db, env.tables, env.bus, group, [env.topic], {env.payload: env.apply_handler()}, **FAST
    )
    await consumer.start()
    key = str(uuid.uuid4())
    future = CloudEvent(
        id=str(uuid.uuid4()),
        source="/future-service",
        type="id.umkm.future.thing_happened.v1",
        time=datetime.now(UTC),
        data={"whatever": True},
    )
    garbage = BusMessage(topic=env.topic, key=key.encode(), value=b"not json", headers=[])
    try:
        await env.bus.publish([to_kafka(future, env.topic, key), garbage])
        known = await publish_events(env, 1)
        await wait_until(lambda: consumer.stats.applied == 1 and consumer.stats.skipped == 1)
    finally:
        await consumer.stop()
    rows = {r.event_id: r for r in await env.inbox_rows(group)}
    assert rows[future.id].outcome == "skipped"
    assert rows[future.id].event_type == "id.umkm.future.thing_happened.v1"
    assert rows[known[0].id].outcome == "applied"
    dead = await env.topic_messages(dlq_topic(env.topic))
    assert [m.value for m in dead] == [b"not json"]
    assert b"missing header" in (dead[0].header("dlq_error") or b"")
    assert dead[0].header("dlq_attempts") == b"1"  # permanent: not retried


async def test_skipped_event_is_applied_on_replay_once_a_handler_exists(env: Env) -> None:
    """An event recorded as "skipped" (no handler yet) does not block a later replay."""
    group = f"g-{hexid()}"
    event = make_event(env.event(7), env.source)
    message = to_kafka(event, env.topic, event.subject)

    class Other(EventPayload):
        event_type: ClassVar[str] = f"id.umkm.test.other_{hexid()}"
        topic: ClassVar[str] = env.topic
        key_field: ClassVar[str] = "item_id"
        item_id: uuid.UUID

    try:
        old = EventConsumer(env.db, env.tables, env.bus, group, None, {Other: env.apply_handler()})
        await old.handle(message)  # a type this version does not handle
        assert old.stats.skipped == 1
        assert [r.outcome for r in await env.inbox_rows(group)] == ["skipped"]

        new = EventConsumer(
            env.db, env.tables, env.bus, group, None, {env.payload: env.apply_handler()}
        )
        await new.handle(message)  # offsets reset after an upgrade: the event comes again
        await new.handle(message)  # and once more: now a duplicate
    finally:
        event_base._REGISTRY.pop(Other.type_name(), None)
    assert (new.stats.applied, new.stats.duplicates) == (1, 1)
    assert [r.outcome for r in await env.inbox_rows(group)] == ["applied"]
    assert await env.effect_count() == 1


async def test_trace_context_travels_from_the_outbox_to_kafka_headers(env: Env) -> None:
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    async with env.db.transaction() as session:
        one = await env.outbox().enqueue(session, env.event(1), traceparent=traceparent)
        await env.outbox().enqueue_many(session, [env.event(2)], traceparent=traceparent)
    assert await env.relay().publish_pending() == 2
    messages = await env.topic_messages()
    assert [m.header("traceparent") for m in messages] == [traceparent.encode()] * 2
    assert one.traceparent == traceparent


# -- migrations -------------------------------------------------------------------------------


async def test_migration_helpers_create_exactly_the_defined_tables(db: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    schema = f"m_{hexid()}"
    metadata = MetaData(schema=schema)
    define_messaging_tables(metadata)

    def only_this_schema(name: str | None, kind: str, parent: Any) -> bool:
        return name == schema if kind == "schema" else True

    def migrate_and_compare(conn: Any) -> list[Any]:
        opts = {"include_schemas": True, "include_name": only_this_schema}
        context = MigrationContext.configure(conn, opts=opts)
        create_messaging_tables(Operations(context), schema=schema)
        diff = compare_metadata(context, metadata)
        drop_messaging_tables(Operations(context), schema=schema)
        return diff

    async with db.engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        diff = await conn.run_sync(migrate_and_compare)
        remaining = await conn.scalar(
            text("select count(*) from information_schema.tables where table_schema = :s"),
            {"s": schema},
        )
        await conn.execute(text(f'DROP SCHEMA "{schema}"'))
    assert diff == []
    assert remaining == 0


def test_notify_channel_names_are_safe_identifiers() -> None:
    assert notify_channel_for("/registry") == "outbox_registry"
    assert notify_channel_for("/supply-chain") == "outbox_supply_chain"
    assert len(notify_channel_for("/" + "x" * 200)) == 63


# -- operational metrics ----------------------------------------------------------------------


def _sample(name: str, **labels: str) -> float | None:
    from umkm_shared.library_metrics import LIBRARY_REGISTRY

    return LIBRARY_REGISTRY.get_sample_value(name, labels)


async def test_relay_reports_backlog_and_age_and_kafka_consumer_reports_lag(env: Env) -> None:
    relay = env.relay(idle_poll_seconds=0.05)
    channel = relay.notify_channel
    async with env.db.transaction() as session:
        for n in range(3):
            await env.outbox().enqueue(session, env.event(n))
    # Measured on the relay's lock connection, before anything is published.
    conn = await asyncpg_connect(env.db)
    try:
        await relay._measure_backlog(conn)
    finally:
        await conn.close()
    assert _sample("umkm_outbox_backlog", channel=channel) == 3
    age = _sample("umkm_outbox_oldest_pending_age_seconds", channel=channel)
    assert age is not None and age >= 0

    calls: list[str] = []
    group = f"g-{hexid()}"
    consumer = EventConsumer(
        env.db, env.tables, env.bus, group, None, {env.payload: env.apply_handler(calls)}
    )
    await consumer.start()
    try:
        while await relay.publish_pending():
            pass
        await wait_until(lambda: consumer.stats.applied == 3)
    finally:
        await consumer.stop()
    relay._backlog_measured_at = 0.0
    conn = await asyncpg_connect(env.db)
    try:
        await relay._measure_backlog(conn)
    finally:
        await conn.close()
    assert _sample("umkm_outbox_backlog", channel=channel) == 0
    if isinstance(env.bus, KafkaBus):  # the in-process bus has no offsets to lag behind
        lags = [
            _sample("umkm_consumer_lag_messages", group=group, topic=env.topic, partition=str(p))
            for p in range(3)
        ]
        assert any(lag is not None for lag in lags)
        assert all(lag in (None, 0.0) for lag in lags)  # everything was handled


async def asyncpg_connect(db: Database) -> Any:
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(db.url).set(drivername="postgresql").render_as_string(hide_password=False)
    return await asyncpg.connect(url)


@pytest.mark.parametrize("env", ["kafka"], indirect=True)  # dead-letter topics: Kafka only
async def test_dead_letters_are_listed_and_replayed_once_after_the_fix(env: Env) -> None:
    assert isinstance(env.bus, KafkaBus)
    from umkm_shared.messaging.dlq import list_dead_letters, replay_dead_letters

    broken = {"on": True}
    effects = env.effects

    async def handler(session: AsyncSession, payload: Any, event: CloudEvent) -> None:
        if payload.n == 0 and broken["on"]:
            raise ValueError("bug")
        await session.execute(effects.insert().values(event_id=event.id, note=str(payload.n)))

    group = f"g-{hexid()}"
    consumer = EventConsumer(
        env.db, env.tables, env.bus, group, None, {env.payload: handler}, max_retries=1, **FAST
    )
    await consumer.start()
    bootstrap = ",".join(env.bus.bootstrap_servers)
    try:
        bad, good = await publish_events(env, 2)
        await wait_until(lambda: consumer.stats.applied == 1)
        letters = await list_dead_letters(bootstrap, env.topic)
        assert [x.header("ce_id") for x in letters] == [bad.id]
        assert letters[0].header("dlq_group") == group

        broken["on"] = False  # the fix is deployed
        replayed = await replay_dead_letters(bootstrap, env.topic, group=group)
        assert [x.header("ce_id") for x in replayed] == [bad.id]
        await wait_until(lambda: consumer.stats.applied == 2)
        assert await replay_dead_letters(bootstrap, env.topic, group=group) == []  # once only
        await asyncio.sleep(0.3)
    finally:
        await consumer.stop()
    assert await env.effect_count() == 2
    assert sorted(r.event_id for r in await env.inbox_rows(group)) == sorted([bad.id, good.id])


async def test_one_trace_from_an_http_request_through_the_bus_into_a_consumer(env: Env) -> None:
    """A request's SERVER span, the event it commits, and the CONSUMER span that applies the
    event elsewhere share one trace id; the consumer span is a child of the request's span."""
    import httpx
    from fastapi import FastAPI
    from opentelemetry import trace
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from umkm_shared.settings import ServiceSettings
    from umkm_shared.tracing import tracer_provider
    from umkm_shared.web import create_service_app

    exporter = InMemorySpanExporter()
    tracer_provider().add_span_processor(SimpleSpanProcessor(exporter))
    app: FastAPI = create_service_app(
        title="t", settings=ServiceSettings(service_name="producer", environment="test")
    )

    @app.post("/things")
    async def create_thing() -> dict[str, str]:
        async with env.db.transaction() as session:
            event = await env.outbox().enqueue(session, env.event(7))
        return {"event_traceparent": event.traceparent or ""}

    seen: list[int] = []

    async def handler(session: AsyncSession, payload: Any, event: CloudEvent) -> None:
        seen.append(trace.get_current_span().get_span_context().trace_id)

    group = f"g-{hexid()}"
    consumer = EventConsumer(env.db, env.tables, env.bus, group, None, {env.payload: handler})
    await consumer.start()
    caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            resp = await client.post("/things", headers={"traceparent": caller})
        assert resp.status_code == 200
        while await env.relay().publish_pending():
            pass
        await wait_until(lambda: consumer.stats.applied == 1)
    finally:
        await consumer.stop()

    trace_id = "0af7651916cd43dd8448eb211c80319c"
    assert resp.headers["traceparent"].split("-")[1] == trace_id
    assert resp.json()["event_traceparent"].split("-")[1] == trace_id
    assert seen == [int(trace_id, 16)]
    spans = {s.name: s for s in exporter.get_finished_spans()}
    # Ours (outermost, SERVER); FastAPI's own spans nest under it.
    server = next(
        s
        for s in exporter.get_finished_spans()
        if s.name == "POST /things"
        and s.kind is trace.SpanKind.SERVER
        and s.attributes.get("service")
    )
    consumer_span = next(s for s in spans.values() if s.name.startswith("process "))
    assert format(server.context.trace_id, "032x") == trace_id
    assert format(server.parent.span_id, "016x") == "b7ad6b7169203331"  # the caller's span
    # The consumer continues the span the event was committed in, inside the request's span.
    event_span = int(resp.json()["event_traceparent"].split("-")[2], 16)
    assert consumer_span.parent.span_id == event_span
    by_id = {s.context.span_id: s for s in exporter.get_finished_spans()}
    ancestors, span_id = [], event_span
    while span_id in by_id:
        ancestors.append(by_id[span_id].name)
        span_id = by_id[span_id].parent.span_id if by_id[span_id].parent else None
    assert ancestors[-1] == "POST /things" and span_id == int("b7ad6b7169203331", 16)
    assert server.attributes["http.route"] == "/things"


# -- batched inbox consumer -------------------------------------------------------------------


def ordered_handler(env: Env, bad: set[int] | None = None, txids: list[int] | None = None) -> Any:
    """Applies an event only after every earlier event of its key (checked in the database, so
    an out-of-order application fails loudly); raises on the numbers in `bad`."""
    effects = env.effects

    async def handler(session: AsyncSession, payload: Any, event: CloudEvent) -> None:
        if txids is not None:
            txids.append(int((await session.execute(text("select txid_current()"))).scalar_one()))
        key = str(payload.item_id)
        latest = (
            await session.execute(
                select(func.max(func.split_part(effects.c.note, ":", 2).cast(Integer))).where(
                    effects.c.note.like(f"{key}:%")
                )
            )
        ).scalar_one()
        if latest is not None and latest >= payload.n:
            raise AssertionError(f"{payload.n} applied after {latest} for {key}")
        if bad and payload.n in bad:
            raise ValueError(f"poison {payload.n}")
        await session.execute(effects.insert().values(event_id=event.id, note=f"{key}:{payload.n}"))

    return handler


async def enqueue_keyed(
    env: Env, count: int, keys: list[uuid.UUID], start: int = 0
) -> list[CloudEvent]:
    async with env.db.transaction() as session:
        return [
            await env.outbox().enqueue(session, env.event(i, key=keys[i % len(keys)]))
            for i in range(start, start + count)
        ]


async def test_batched_consumer_applies_exactly_once_in_order_across_a_redelivery(
    env: Env,
) -> None:
    keys = [uuid.uuid4() for _ in range(6)]
    events = await enqueue_keyed(env, 300, keys)
    relay = env.relay()
    while await relay.publish_pending():
        pass
    original = await env.topic_messages()

    txids: list[int] = []
    group = f"g-{hexid()}"
    consumer = EventConsumer(
        env.db, env.tables, env.bus, group, None, {env.payload: ordered_handler(env, txids=txids)},
        batch_size=100,
    )  # fmt: skip
    await consumer.start()
    try:
        await wait_until(lambda: consumer.stats.applied == 300)
        # Everything again (a relay restart, a lost offset commit), plus new events behind it.
        more = await enqueue_keyed(env, 40, keys, start=1000)
        await env.bus.publish(original)
        while await relay.publish_pending():
            pass
        await wait_until(lambda: consumer.stats.applied == 340 and consumer.stats.duplicates == 300)
        await asyncio.sleep(0.3)
    finally:
        await consumer.stop()
    assert (consumer.stats.applied, consumer.stats.duplicates) == (340, 300)
    assert await env.effect_count() == 340
    rows = await env.inbox_rows(group)
    assert sorted(r.event_id for r in rows) == sorted(e.id for e in events + more)
    assert all(r.outcome == "applied" for r in rows)
    # Batched: many events per transaction (the 300 were all queued before the consumer began).
    assert max(Counter(txids).values()) > 1
    assert len(set(txids)) < 300


async def test_poison_event_in_a_batch_is_dead_lettered_and_the_others_applied_once(
    env: Env,
) -> None:
    keys = [uuid.uuid4() for _ in range(2)]
    events = await enqueue_keyed(env, 120, keys)
    relay = env.relay()
    while await relay.publish_pending():
        pass
    bad = {17, 18, 64}
    group = f"g-{hexid()}"
    consumer = EventConsumer(
        env.db, env.tables, env.bus, group, None, {env.payload: ordered_handler(env, bad)},
        max_retries=1, batch_size=50, **FAST,
    )  # fmt: skip
    await consumer.start()
    try:
        await wait_until(lambda: consumer.stats.applied == 117)
        await asyncio.sleep(0.3)
    finally:
        await consumer.stop()
    assert consumer.stats.applied == 117 and consumer.stats.duplicates == 0
    assert await env.effect_count() == 117
    good = {e.id for e in events if e.data["n"] not in bad}
    assert {r.event_id for r in await env.inbox_rows(group)} == good  # poison rolled back
    dead = await env.topic_messages(dlq_topic(env.topic))
    assert sorted(from_kafka(m.headers, m.value).data["n"] for m in dead) == sorted(bad)
    assert all(m.header("dlq_attempts") == b"2" for m in dead)  # the per-message policy
    assert all((m.header("dlq_error") or b"").startswith(b"ValueError: poison") for m in dead)


async def test_batch_with_repeats_unknown_types_and_garbage_behaves_like_single_events(
    env: Env,
) -> None:
    key = uuid.uuid4()
    one, two = (make_event(env.event(n, key=key), env.source) for n in (1, 2))
    future = CloudEvent(
        id=str(uuid.uuid4()),
        source="/future-service",
        type="id.umkm.future.thing_happened.v1",
        time=datetime.now(UTC),
        data={"whatever": True},
    )
    garbage = BusMessage(topic=env.topic, key=str(key).encode(), value=b"not json", headers=[])
    sequence = [one, one, future, two, one, future]
    messages = [to_kafka(e, env.topic, str(key)) for e in sequence]
    messages.insert(4, garbage)
    await env.bus.publish(messages)  # one key: one partition, one batch

    group = f"g-{hexid()}"
    consumer = EventConsumer(
        env.db, env.tables, env.bus, group, [env.topic], {env.payload: ordered_handler(env)},
        batch_size=100, **FAST,
    )  # fmt: skip
    await consumer.start()
    try:
        await wait_until(lambda: consumer.stats.applied == 2 and consumer.stats.skipped == 2)
        await wait_until(lambda: consumer.stats.duplicates == 2)
        await asyncio.sleep(0.3)
    finally:
        await consumer.stop()
    assert (consumer.stats.applied, consumer.stats.duplicates, consumer.stats.skipped) == (2, 2, 2)
    rows = {r.event_id: r.outcome for r in await env.inbox_rows(group)}
    assert rows == {one.id: "applied", two.id: "applied", future.id: "skipped"}
    assert await env.effect_count() == 2
    dead = await env.topic_messages(dlq_topic(env.topic))
    assert [m.value for m in dead] == [b"not json"]
    assert dead[0].header("dlq_attempts") == b"1"  # permanent: not retried


async def test_batch_spans_continue_each_events_trace(env: Env) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from umkm_shared.tracing import tracer_provider

    exporter = InMemorySpanExporter()
    tracer_provider().add_span_processor(SimpleSpanProcessor(exporter))
    key = uuid.uuid4()
    parents = [f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01" for _ in range(5)]
    async with env.db.transaction() as session:
        events = [
            await env.outbox().enqueue(session, env.event(i, key=key), traceparent=tp)
            for i, tp in enumerate(parents)
        ]
    while await env.relay().publish_pending():
        pass
    seen: dict[str, int] = {}

    async def handler(session: AsyncSession, payload: Any, event: CloudEvent) -> None:
        seen[event.id] = trace.get_current_span().get_span_context().trace_id

    group = f"g-{hexid()}"
    consumer = EventConsumer(env.db, env.tables, env.bus, group, None, {env.payload: handler})
    await consumer.start()
    try:
        await wait_until(lambda: consumer.stats.applied == 5)
    finally:
        await consumer.stop()
    for event, tp in zip(events, parents, strict=True):
        assert seen[event.id] == int(tp.split("-")[1], 16)
    spans = [s for s in exporter.get_finished_spans() if s.name.startswith("process ")]
    by_message = {s.attributes["messaging.message.id"]: s for s in spans}  # type: ignore[index]
    for event, tp in zip(events, parents, strict=True):
        span = by_message[event.id]
        assert span.parent is not None and span.parent.span_id == int(tp.split("-")[2], 16)
