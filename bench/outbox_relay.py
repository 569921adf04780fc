"""Benchmark: events through the transactional outbox vs. straight through aiokafka.

    uv run python scripts/devstack.py run -- uv run python bench/outbox_relay.py [--events N]

(or with DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS of running servers:
`uv run python bench/outbox_relay.py`). Writes bench/results/outbox_relay.json.

Measured path: N `UmkmRegistered` events committed to an outbox table in transactions of
`--commit-batch` events (`Outbox.enqueue_many`, binary COPY), the `OutboxRelay` (LISTEN/NOTIFY,
batches of `--relay-batch`, idempotent producer, `acks=all`, marks rows sent) publishing to Kafka,
and a `KafkaBus` subscription counting them (offsets committed after the handler). The clock
runs from the first commit to the last event consumed.

Baseline, same run, same machine: the same N payloads (same bytes, same `ce_*` headers, same keys)
sent by a plain `AIOKafkaProducer` with the same durability settings (idempotent, `acks=all`,
send futures gathered per batch) and counted by a plain `AIOKafkaConsumer` that commits after
each fetch. The clock runs from the first send to the last message consumed. Both consumers join
their group before the clock starts, and everything runs in one process and one event loop.

The figure that matters is the ratio (outbox rate / baseline rate), which survives a noisy
machine better than either rate alone; it is the median over `--rounds` rounds (default 3), each
with fresh topics and a fresh database (dropped afterwards), so the script can be re-run at will.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, ClassVar

import aiokafka
import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from benchlib import machine_info
from sqlalchemy import MetaData
from sqlalchemy.engine import make_url

from umkm_shared.db import Database, async_url, create_database_if_missing
from umkm_shared.events import CloudEvent, make_event, to_kafka
from umkm_shared.events.registry import (
    REGISTRY_SOURCE,
    Certification,
    KbliRef,
    UmkmRegistered,
    UmkmSnapshot,
)
from umkm_shared.ids import new_id
from umkm_shared.messaging.bus import BusMessage
from umkm_shared.messaging.kafka import KafkaBus, ensure_topics
from umkm_shared.messaging.outbox import Outbox
from umkm_shared.messaging.relay import OutboxRelay
from umkm_shared.messaging.tables import define_messaging_tables

RESULTS = Path(__file__).resolve().parent / "results" / "outbox_relay.json"
GOAL_RATIO = 0.5


def servers(script: str) -> tuple[str, str]:
    """DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS, or a message saying how to get them."""
    database_url = os.environ.get("DATABASE_URL")
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not database_url or not bootstrap:
        raise SystemExit(
            "set DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS, or run through\n"
            f"  uv run python scripts/devstack.py run -- uv run python bench/{script}"
        )
    return database_url, bootstrap


def prepare_events(
    kind: str, bench_id: str, n: int
) -> tuple[type[UmkmRegistered], list[UmkmRegistered], list[CloudEvent], list[str]]:
    """`n` synthetic UmkmRegistered payloads of a class of the run's own (the caller points its
    `topic` at each round's fresh topic), their CloudEvents and keys, prepared before timing."""
    bench_id = uuid.uuid4().hex[:8]

    class BenchUmkmRegistered(UmkmRegistered):
        event_type: ClassVar[str] = f"id.umkm.bench.{bench_id}.registered"
        topic: ClassVar[str] = f"bench.{kind}.{bench_id}"

    print(f"preparing {n} payloads ...", file=sys.stderr)
    payloads = make_payloads(BenchUmkmRegistered, n)
    events = [make_event(p, REGISTRY_SOURCE) for p in payloads]
    keys = [p.message_key() for p in payloads]
    # The prepared payloads are long-lived fixtures: keep the cyclic GC from rescanning them
    # during the measurements (it would otherwise add noise proportional to their number).
    gc.collect()
    gc.freeze()
    return BenchUmkmRegistered, payloads, events, keys


def make_payloads(cls: type[UmkmRegistered], n: int) -> list[UmkmRegistered]:
    now = datetime.now(UTC)
    out = []
    for i in range(n):
        province = 11 + i % 24
        snap = UmkmSnapshot(
            umkm_id=new_id(),
            business_name=f"Usaha Keripik Tempe Sejahtera {i}",
            owner_name=f"Pemilik Nomor {i}",
            owner_nik_hash=f"{i:064x}",
            owner_nik_masked=f"{province}01************",
            nib=f"{9120000000000 + i}",
            npwp=None,
            kbli_primary=KbliRef(version="2020", code="10792"),
            kbli_others=[KbliRef(version="2020", code="47241")],
            village_code=f"{province}.01.01.2001",
            district_code=f"{province}.01.01",
            regency_code=f"{province}.01",
            province_code=str(province),
            latitude=-6.2 + (i % 1000) / 10000,
            longitude=106.8 + (i % 1000) / 10000,
            location_approximate=False,
            address=f"Jl. Merdeka No. {i % 500}, RT 01/RW 02",
            capital_idr=50_000_000 + i,
            annual_sales_idr=300_000_000 + i,
            scale="mikro",
            workforce=4,
            founded_on=date(2019, 5, 1),
            products=["keripik tempe", "keripik singkong"],
            certifications=[Certification(kind="halal", number=f"ID{i:08d}", valid_until=None)],
            status="active",
            version=1,
            registered_at=now,
            updated_at=now,
        )
        out.append(cls(umkm=snap))
    return out


async def wait_for(predicate: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


async def run_outbox(
    db: Database,
    bootstrap: str,
    topic: str,
    payloads: list[UmkmRegistered],
    args: Any,
    backlog: bool = False,
) -> dict[str, Any]:
    metadata = MetaData()
    tables = define_messaging_tables(metadata)
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)

    bus = KafkaBus(bootstrap, "bench-outbox")
    await bus.start()
    consumed = 0

    async def count(message: BusMessage) -> None:
        nonlocal consumed
        consumed += 1

    subscription = await bus.subscribe(f"bench-outbox-{uuid.uuid4().hex[:8]}", [topic], count)
    await wait_for(lambda: len(subscription.assigned) == args.partitions, 60, "group join")

    outbox_source = REGISTRY_SOURCE
    published = 0
    published_at = 0.0

    class CountingRelay(OutboxRelay):
        async def _finish(self, batch: Any) -> int:  # when a batch is acknowledged and marked
            nonlocal published, published_at
            count = await super()._finish(batch)
            published += count
            published_at = time.perf_counter()
            return count

    relay = CountingRelay(db, tables, bus, source=outbox_source, batch_size=args.relay_batch)
    outbox = Outbox(tables, outbox_source)
    n = len(payloads)

    async def write() -> None:
        for start in range(0, n, args.commit_batch):
            async with db.transaction() as session:
                await outbox.enqueue_many(session, payloads[start : start + args.commit_batch])

    if backlog:  # rows committed first; the clock covers relay -> Kafka -> consumer only
        await write()
    await relay.start()
    await wait_for(lambda: relay.active, 30, "relay lock")
    show_progress(n, lambda: consumed)
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    if not backlog:  # writer and relay run together; the clock starts at the first commit
        await write()
    t_written = time.perf_counter()
    await wait_for(lambda: consumed >= n, 600, "outbox events consumed")
    t1 = time.perf_counter()
    cpu = time.process_time() - cpu0
    await relay.stop()
    await subscription.stop()
    await bus.stop()
    seconds = t1 - t0
    return {
        "seconds": round(seconds, 3),
        "rate": round(n / seconds, 1),
        "write_seconds": round(t_written - t0, 3),
        "relay_seconds": round(published_at - t0, 3),
        "python_cpu_seconds": round(cpu, 3),
        "consumed": consumed,
    }


def show_progress(total: int, current: Callable[[], int]) -> None:
    """Print progress every second in the background (long runs should show they are alive)."""

    async def report() -> None:
        while (done := current()) < total:
            print(f"  ... {done}/{total}", file=sys.stderr)
            await asyncio.sleep(1)

    task = asyncio.get_running_loop().create_task(report())
    _background.add(task)
    task.add_done_callback(_background.discard)


_background: set[asyncio.Task[None]] = set()


async def run_baseline(
    bootstrap: str, topic: str, messages: list[BusMessage], args: Any
) -> dict[str, Any]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-raw-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    n = len(messages)
    consumed = 0
    stop = asyncio.Event()

    async def consume() -> None:
        nonlocal consumed
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=100)
            for records in batch.values():
                consumed += len(records)
            if batch:
                await consumer.commit()

    task = asyncio.create_task(consume())
    await wait_for(lambda: len(consumer.assignment()) == args.partitions, 60, "group join")

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=512 * 1024,
    )
    await producer.start()
    show_progress(n, lambda: consumed)
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    for start in range(0, n, args.relay_batch):
        futures = [
            await producer.send(m.topic, value=m.value, key=m.key, headers=m.headers)
            for m in messages[start : start + args.relay_batch]
        ]
        await asyncio.gather(*futures)
    await wait_for(lambda: consumed >= n, 600, "baseline messages consumed")
    t1 = time.perf_counter()
    cpu = time.process_time() - cpu0
    stop.set()
    await task
    await producer.stop()
    await consumer.stop()
    seconds = t1 - t0
    return {
        "seconds": round(seconds, 3),
        "rate": round(n / seconds, 1),
        "python_cpu_seconds": round(cpu, 3),
        "consumed": consumed,
    }


async def drop_database(admin_url: str, name: str) -> None:
    admin = make_url(async_url(admin_url)).set(drivername="postgresql")
    conn = await asyncpg.connect(admin.render_as_string(hide_password=False))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def main_async(args: Any) -> dict[str, Any]:
    database_url, bootstrap = servers("outbox_relay.py")
    bench_id = uuid.uuid4().hex[:8]
    BenchUmkmRegistered, payloads, events, keys = prepare_events("outbox", bench_id, args.events)

    rounds: list[dict[str, Any]] = []
    server_version = None
    avg_value = avg_headers = 0.0
    for number in range(1, args.rounds + 1):
        run_id = f"{bench_id}{number}"
        db_name = f"bench_outbox_{run_id}"
        db_url = await create_database_if_missing(database_url, db_name)
        raw_topic, outbox_topic = f"bench.raw.{run_id}", f"bench.outbox.{run_id}"
        await ensure_topics(
            bootstrap, [raw_topic, outbox_topic], partitions=args.partitions, dead_letter=False
        )
        BenchUmkmRegistered.topic = outbox_topic  # type: ignore[misc]
        baseline_messages = [to_kafka(e, raw_topic, k) for e, k in zip(events, keys, strict=True)]
        avg_value = sum(len(m.value) for m in baseline_messages) / len(baseline_messages)
        avg_headers = sum(
            sum(len(k) + len(v) for k, v in m.headers) for m in baseline_messages
        ) / len(baseline_messages)

        db = Database(db_url, pool_size=5)
        try:
            async with db.engine.connect() as conn:
                server_version = (await conn.exec_driver_sql("show server_version")).scalar()
            print(f"round {number}: baseline (aiokafka producer -> consumer)", file=sys.stderr)
            baseline = await run_baseline(bootstrap, raw_topic, baseline_messages, args)
            print(f"  {baseline}", file=sys.stderr)
            print(f"round {number}: outbox (commit -> relay -> Kafka -> consumer)", file=sys.stderr)
            ours = await run_outbox(db, bootstrap, outbox_topic, payloads, args)
            print(f"  {ours}", file=sys.stderr)
        finally:
            await db.dispose()
            await drop_database(database_url, db_name)
        # The same again with every row committed before the relay starts: the issue's
        # "from committed outbox rows to a Kafka consumer", without the writer competing.
        backlog_db_url = await create_database_if_missing(database_url, db_name + "_b")
        backlog_topic = f"bench.backlog.{run_id}"
        await ensure_topics(
            bootstrap, [backlog_topic], partitions=args.partitions, dead_letter=False
        )
        BenchUmkmRegistered.topic = backlog_topic  # type: ignore[misc]
        db = Database(backlog_db_url, pool_size=5)
        try:
            print(
                f"round {number}: backlog (committed rows -> relay -> Kafka -> consumer)",
                file=sys.stderr,
            )
            backlog = await run_outbox(db, bootstrap, backlog_topic, payloads, args, backlog=True)
            print(f"  {backlog}", file=sys.stderr)
        finally:
            await db.dispose()
            await drop_database(database_url, db_name + "_b")
        del baseline_messages
        rounds.append(
            {
                "baseline": baseline,
                "outbox": ours,
                "backlog": backlog,
                "ratio": round(ours["rate"] / baseline["rate"], 3),
                "backlog_ratio": round(backlog["rate"] / baseline["rate"], 3),
            }
        )

    ratio = statistics.median(r["ratio"] for r in rounds)
    rate = statistics.median(r["outbox"]["rate"] for r in rounds)
    baseline_rate = statistics.median(r["baseline"]["rate"] for r in rounds)
    return {
        "benchmark": "outbox_relay",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {**machine_info(aiokafka=aiokafka.__version__), "postgresql": server_version},
        "events": args.events,
        "rounds": args.rounds,
        "avg_value_bytes": round(avg_value),
        "avg_header_bytes": round(avg_headers),
        "settings": {
            "partitions": args.partitions,
            "commit_batch": args.commit_batch,
            "relay_batch": args.relay_batch,
            "producer": "idempotent, acks=all, linger_ms=5, max_batch_size=512KiB",
            "one_process": "writer, relay and consumer share one Python process and event loop",
        },
        "seconds": statistics.median(r["outbox"]["seconds"] for r in rounds),
        "rate": rate,
        "baseline_rate": baseline_rate,
        "ratio": ratio,
        "goal_ratio": GOAL_RATIO,
        "goal_met": ratio >= GOAL_RATIO,
        # from already committed outbox rows (relay -> Kafka -> consumer), same baseline
        "backlog_rate": statistics.median(r["backlog"]["rate"] for r in rounds),
        "backlog_ratio": statistics.median(r["backlog_ratio"] for r in rounds),
        "backlog_goal_met": statistics.median(r["backlog_ratio"] for r in rounds) >= GOAL_RATIO,
        "per_round": rounds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--commit-batch", type=int, default=1000, help="events per transaction")
    parser.add_argument("--relay-batch", type=int, default=1000, help="relay batch size")
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3, help="median of this many runs")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    text = json.dumps(result, indent=2)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_suffix(".json.tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(args.output)
    print(
        f"outbox {result['rate']:.0f} ev/s vs baseline {result['baseline_rate']:.0f} msg/s: "
        f"ratio {result['ratio']:.2f} (goal >= {GOAL_RATIO}); written to {args.output}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
