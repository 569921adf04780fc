"""Benchmark: the inbox consumer (`EventConsumer`) applying events one per transaction vs. in
batches of one transaction per chunk of a partition.

    uv run python scripts/devstack.py run -- uv run python bench/consumer_batch.py [--events N]

(or with DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS of running servers:
`uv run python bench/consumer_batch.py`). Writes bench/results/consumer_batch.json.

Measured path: N `UmkmRegistered` CloudEvents (~1 KB each, one key per UMKM, the registry's
bytes and `ce_*` headers) already on a Kafka topic of `--partitions` partitions; an
`EventConsumer` on a `KafkaBus` with a simple read-model handler (one `INSERT ... ON CONFLICT DO
UPDATE` of a few columns of the snapshot, keyed by the UMKM id). Per event it decodes the envelope
and the typed payload, claims the event in the inbox and runs the handler, in one transaction per
event (`batch_size=1`, the behaviour before batching) or one per batch of up to `--batch-size`
events of one partition (`handle_batch`: a multi-row inbox claim, then the handlers in offset
order, then one commit). Offsets are committed after the transaction in both modes. The clock runs
from the first handler call (the group has joined) to the N-th event applied; afterwards the
read model and the inbox must hold exactly N rows each.

Each mode runs `--rounds` times (default 3) on a fresh topic, consumer group and database
(dropped afterwards); the figures are medians, and the speedup is batched / per-event rate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiokafka
import asyncpg
from sqlalchemy import BigInteger, Column, MetaData, Table, Text, Uuid, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from umkm_shared.db import Database, async_url, create_database_if_missing
from umkm_shared.events import CloudEvent, to_kafka
from umkm_shared.events.registry import UmkmRegistered
from umkm_shared.messaging.consumer import EventConsumer
from umkm_shared.messaging.kafka import KafkaBus, ensure_topics
from umkm_shared.messaging.tables import define_messaging_tables

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import machine_info
from outbox_relay import prepare_events, servers  # the same synthetic UMKM events

RESULTS = Path(__file__).resolve().parent / "results" / "consumer_batch.json"


async def wait_for(predicate: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


async def drop_database(admin_url: str, name: str) -> None:
    admin = make_url(async_url(admin_url)).set(drivername="postgresql")
    conn = await asyncpg.connect(admin.render_as_string(hide_password=False))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def run_mode(
    database_url: str,
    bootstrap: str,
    payload_cls: type[UmkmRegistered],
    events: list[CloudEvent],
    keys: list[str],
    batch_size: int,
    run_id: str,
    args: Any,
) -> dict[str, Any]:
    topic = f"bench.consumer.{run_id}"
    db_name = f"bench_consumer_{run_id}"
    await ensure_topics(bootstrap, [topic], partitions=args.partitions)
    payload_cls.topic = topic  # type: ignore[misc]
    db = Database(await create_database_if_missing(database_url, db_name))
    bus = KafkaBus(bootstrap, f"bench-consumer-{run_id}")
    try:
        metadata = MetaData()
        tables = define_messaging_tables(metadata)
        read_model = Table(
            "umkm",
            metadata,
            Column("id", Uuid(as_uuid=True), primary_key=True),
            Column("business_name", Text, nullable=False),
            Column("province_code", Text, nullable=False),
            Column("kbli_code", Text, nullable=False),
            Column("annual_sales_idr", BigInteger, nullable=False),
            Column("version", BigInteger, nullable=False),
        )
        async with db.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        upsert = pg_insert(read_model)
        upsert = upsert.on_conflict_do_update(
            index_elements=[read_model.c.id],
            set_={c: upsert.excluded[c] for c in ("business_name", "province_code", "version")},
            where=read_model.c.version < upsert.excluded.version,
        )

        await bus.start()
        await bus.publish([to_kafka(e, topic, k) for e, k in zip(events, keys, strict=True)])

        first_call: list[float] = []

        async def on_registered(session: AsyncSession, p: UmkmRegistered, _: CloudEvent) -> None:
            if not first_call:
                first_call.append(time.perf_counter())
            u = p.umkm
            await session.execute(
                upsert,
                {
                    "id": u.umkm_id,
                    "business_name": u.business_name,
                    "province_code": u.province_code,
                    "kbli_code": u.kbli_primary.code,
                    "annual_sales_idr": u.annual_sales_idr,
                    "version": u.version,
                },
            )

        consumer = EventConsumer(
            db,
            tables,
            bus,
            f"bench-consumer-{run_id}",
            [topic],
            {payload_cls: on_registered},
            batch_size=batch_size,
        )
        n = len(events)
        cpu0 = time.process_time()
        await consumer.start()
        progress = asyncio.create_task(report(n, lambda: consumer.stats.applied))
        try:
            await wait_for(lambda: consumer.stats.applied >= n, 1800, "events applied")
        finally:
            progress.cancel()
        t1 = time.perf_counter()
        cpu = time.process_time() - cpu0
        await consumer.stop()
        async with db.session() as session:
            rows = (await session.execute(select(func.count()).select_from(read_model))).scalar()
            inbox = (await session.execute(select(func.count()).select_from(tables.inbox))).scalar()
        if rows != n or inbox != n or consumer.stats.duplicates or consumer.stats.skipped:
            raise AssertionError(f"expected {n} rows, got {rows} (inbox {inbox}), {consumer.stats}")
        seconds = t1 - first_call[0]
        return {
            "batch_size": batch_size,
            "seconds": round(seconds, 3),
            "rate": round(n / seconds, 1),
            "ms_per_event": round(1000 * seconds / n, 3),
            "python_cpu_seconds": round(cpu, 3),
            "applied": consumer.stats.applied,
            "read_model_rows": rows,
            "inbox_rows": inbox,
        }
    finally:
        await bus.stop()
        await db.dispose()
        await drop_database(database_url, db_name)


async def report(total: int, current: Callable[[], int]) -> None:
    while (done := current()) < total:
        print(f"  ... {done}/{total}", file=sys.stderr)
        await asyncio.sleep(2)


async def main_async(args: Any) -> dict[str, Any]:
    database_url, bootstrap = servers("consumer_batch.py")
    bench_id = uuid.uuid4().hex[:8]
    BenchUmkmRegistered, _, events, keys = prepare_events("consumer", bench_id, args.events)

    rounds: list[dict[str, Any]] = []
    for number in range(1, args.rounds + 1):
        result: dict[str, Any] = {}
        for mode, size in (("per_event", 1), ("batched", args.batch_size)):
            print(f"round {number}: {mode} (batch_size={size})", file=sys.stderr)
            result[mode] = await run_mode(
                database_url,
                bootstrap,
                BenchUmkmRegistered,
                events,
                keys,
                size,
                f"{bench_id}{number}{mode[0]}",
                args,
            )
            print(f"  {result[mode]}", file=sys.stderr)
        result["speedup"] = round(result["batched"]["rate"] / result["per_event"]["rate"], 2)
        rounds.append(result)

    admin = Database(database_url)
    try:
        async with admin.engine.connect() as conn:
            server_version = (await conn.exec_driver_sql("show server_version")).scalar()
    finally:
        await admin.dispose()
    return {
        "benchmark": "consumer_batch",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {**machine_info(aiokafka=aiokafka.__version__), "postgresql": server_version},
        "events": args.events,
        "rounds": args.rounds,
        "settings": {
            "partitions": args.partitions,
            "batch_size": args.batch_size,
            "handler": "one INSERT ... ON CONFLICT DO UPDATE per event (read-model upsert)",
            "bus": "KafkaBus defaults (max_poll_records=1000, commit after each transaction)",
            "one_process": "consumer and database client share one Python process",
        },
        "per_event_rate": statistics.median(r["per_event"]["rate"] for r in rounds),
        "batched_rate": statistics.median(r["batched"]["rate"] for r in rounds),
        "per_event_ms": statistics.median(r["per_event"]["ms_per_event"] for r in rounds),
        "batched_ms": statistics.median(r["batched"]["ms_per_event"] for r in rounds),
        "speedup": statistics.median(r["speedup"] for r in rounds),
        "per_round": rounds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--no-write", action="store_true", help="do not write the results file")
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    text = json.dumps(results, indent=2)
    print(text)
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text + "\n")
        print(f"written to {RESULTS}", file=sys.stderr)


if __name__ == "__main__":
    main()
