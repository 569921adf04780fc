"""Registry events through the real Kafka broker into the clustering read model; replaying the
topic from the start into an empty database rebuilds the same read model."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from clustering_support import message, population_snapshots, registered, settings
from sqlalchemy import text

from umkm_clustering.app import MIGRATIONS, build
from umkm_shared.db import upgrade
from umkm_shared.events.registry import UmkmDeactivated, UmkmUpdated
from umkm_shared.ids import new_id
from umkm_shared.messaging.kafka import KafkaBus

pytestmark = pytest.mark.asyncio(loop_scope="session")

READ_MODEL = (
    "SELECT id, version, kbli_code, province_code, regency_code, lat, lon, location_source, "
    "scale, status FROM umkm ORDER BY id"
)


async def consume_into_fresh_db(
    make_database: Callable[[str], Any],
    keys: dict[str, Any],
    bootstrap: str,
    topic: str,
    expected: int,
) -> list[tuple[Any, ...]]:
    url: str = await make_database("clustering_kafka")
    await upgrade(url, MIGRATIONS)
    cfg = settings(
        url,
        keys,
        kafka_bootstrap_servers=bootstrap,
        run_workers=False,
        consumer_group=f"clustering-test-{new_id().hex}",
        consumer_topics=[topic],
    )
    app, runtime = build(cfg)
    async with app.router.lifespan_context(app):
        async with asyncio.timeout(45):
            while True:
                async with runtime.db.transaction() as s:
                    n = (
                        await s.execute(
                            text("SELECT count(*) FROM inbox WHERE consumer_group = :g"),
                            {"g": cfg.consumer_group},
                        )
                    ).scalar_one()
                if n >= expected:
                    break
                await asyncio.sleep(0.2)
        async with runtime.db.transaction() as s:
            return [tuple(r) for r in (await s.execute(text(READ_MODEL))).all()]


async def test_registry_events_via_kafka_and_replay_rebuilds_identically(
    make_database: Callable[[str], Any], keys: dict[str, Any], kafka_bootstrap: str
) -> None:
    topic = f"test.umkm.registry.{new_id().hex}"
    snaps = population_snapshots(120, seed=21)
    msgs = [message(registered(s)) for s in snaps]
    # updates and a deactivation, and a stale duplicate of an older version after them
    s0 = snaps[0]
    newer = s0.model_copy(
        update={"version": 3, "kbli_primary": s0.kbli_primary.model_copy(update={"code": "14111"})}
    )
    msgs.append(message(UmkmUpdated(umkm=newer, changed_fields=["kbli_primary"])))
    msgs.append(message(registered(s0)))  # redelivered older snapshot: ignored
    msgs.append(
        message(
            UmkmDeactivated(
                umkm_id=snaps[1].umkm_id,
                province_code="32",
                village_code=snaps[1].village_code,
                deactivated_at=snaps[1].updated_at,
            )
        )
    )
    msgs = [dataclasses.replace(m, topic=topic) for m in msgs]
    bus = KafkaBus(kafka_bootstrap, client_id="clustering-test-producer")
    await bus.start()
    try:
        await bus.publish(msgs)
    finally:
        await bus.stop()

    first = await consume_into_fresh_db(make_database, keys, kafka_bootstrap, topic, len(msgs))
    assert len(first) == len(snaps)
    by_id = {r[0]: r for r in first}
    assert by_id[s0.umkm_id][1] == 3 and by_id[s0.umkm_id][2] == "14111"
    assert by_id[snaps[1].umkm_id][9] == "inactive"

    replay = await consume_into_fresh_db(make_database, keys, kafka_bootstrap, topic, len(msgs))
    assert replay == first
