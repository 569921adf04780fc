"""A merge reaches a real Kafka broker: UmkmMerged keyed by the merged record (after its own
earlier events), UmkmUpdated keyed by the survivor."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer
from registry_support import BANDUNG, idem, mint, new_umkm, registry_settings, valid_nik

from umkm_registry.app import MIGRATIONS, build
from umkm_shared.db import upgrade
from umkm_shared.ids import new_id


async def test_merge_events_reach_kafka_in_order_per_record(
    make_database: Any, kafka_bootstrap: str, keys: dict[str, Any]
) -> None:
    db_url = await make_database("registry_dedup_kafka")
    await upgrade(db_url, MIGRATIONS)
    app, _ = build(registry_settings(db_url, keys, kafka_bootstrap_servers=kafka_bootstrap))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://registry.test"
        ) as client:
            dinas = mint(app, "dinas", wilayah=BANDUNG)
            owner = valid_nik()
            ids = []
            for name in ("Keripik Tempe Bu Sri", "Kripik Tempe Bu Sri"):
                r = await client.post(
                    "/v1/umkm",
                    json=new_umkm(owner_nik=owner, business_name=name),
                    headers=dinas | idem(),
                )
                assert r.status_code == 201, r.text
                ids.append(r.json()["id"])
            (cand,) = (await client.get("/v1/duplicate-candidates", headers=dinas)).json()["items"]
            survivor, merged = sorted(ids)
            r = await client.post(
                f"/v1/duplicate-candidates/{cand['id']}/merge",
                json={"survivor": survivor},
                headers=dinas,
            )
            assert r.status_code == 200, r.text

        consumer = AIOKafkaConsumer(
            "umkm.registry.v1",
            bootstrap_servers=kafka_bootstrap,
            group_id=f"test-{new_id().hex}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            by_key: dict[str, list[Any]] = {survivor: [], merged: []}
            async with asyncio.timeout(30):
                while len(by_key[survivor]) < 2 or len(by_key[merged]) < 2:
                    batch = await consumer.getmany(timeout_ms=500)
                    for records in batch.values():
                        for m in records:
                            if m.key and m.key.decode() in by_key:
                                by_key[m.key.decode()].append(m)
        finally:
            await consumer.stop()

    def types(key: str) -> list[bytes]:
        return [dict(m.headers)["ce_type"] for m in by_key[key]]

    assert types(merged) == [
        b"id.umkm.registry.umkm.registered.v1",
        b"id.umkm.registry.umkm.merged.v1",
    ]
    assert types(survivor) == [
        b"id.umkm.registry.umkm.registered.v1",
        b"id.umkm.registry.umkm.updated.v1",
    ]
    event = orjson.loads(by_key[merged][1].value)
    assert event["survivor_id"] == survivor and event["merged_id"] == merged
    assert event["village_code"] == new_umkm()["village_code"]
