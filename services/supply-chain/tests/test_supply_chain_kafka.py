"""Over the real Kafka broker: registry events on `umkm.registry.v1` become supplier profiles
(inbox consumer), and purchase-order events reach `umkm.supply-chain.v1` with CloudEvents
headers, keyed by the order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
import pytest_asyncio
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI
from sc_support import (
    idem,
    membership,
    mint,
    new_anchor,
    product,
    request_body,
    sc_settings,
    snapshot,
    unique_unit,
)

from umkm_shared.db import upgrade
from umkm_shared.events.base import make_event
from umkm_shared.events.envelope import to_kafka
from umkm_shared.events.registry import UmkmRegistered
from umkm_shared.ids import new_id
from umkm_shared.messaging.kafka import KafkaBus
from umkm_supply_chain.app import MIGRATIONS, build


@pytest_asyncio.fixture
async def kafka_app(
    make_database: Callable[[str], Any], kafka_bootstrap: str, keys: dict[str, Any]
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    db_url: str = await make_database("supply_chain_kafka")
    await upgrade(db_url, MIGRATIONS)
    settings = sc_settings(
        db_url,
        keys,
        kafka_bootstrap_servers=kafka_bootstrap,
        consumer_group=f"supply-chain-test-{new_id().hex}",
    )
    app, _ = build(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sc.test") as c:
            yield app, c


async def read_topic(bootstrap: str, topic: str, key: str, n: int) -> list[Any]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"test-{new_id().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    found: list[Any] = []
    await consumer.start()
    try:
        async with asyncio.timeout(30):
            while len(found) < n:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    found += [m for m in records if m.key and m.key.decode() == key]
    finally:
        await consumer.stop()
    return found


async def test_registry_events_from_kafka_to_profiles_and_orders_back(
    kafka_app: tuple[FastAPI, httpx.AsyncClient], kafka_bootstrap: str
) -> None:
    app, client = kafka_app
    snap = snapshot(name="CV KAFKA LOGAM", kbli="29300", lat=-6.35, lon=107.2)
    kop = new_id()
    bus = KafkaBus(kafka_bootstrap, client_id="test-registry")
    await bus.start()
    try:
        await bus.publish(
            [
                to_kafka(make_event(p, "/registry"), p.topic, p.message_key())
                for p in (UmkmRegistered(umkm=snap), membership(snap.umkm_id, kop))
            ]
        )
    finally:
        await bus.stop()

    koperasi = mint(app, "koperasi", actor_id=kop)
    async with asyncio.timeout(45):
        while True:
            r = await client.get(f"/v1/suppliers/{snap.umkm_id}", headers=koperasi)
            if r.status_code == 200:
                break
            await asyncio.sleep(0.3)
    assert r.json()["business_name"] == "CV KAFKA LOGAM"
    assert r.json()["koperasi_id"] == str(kop)

    unit = unique_unit()
    r = await client.patch(
        f"/v1/suppliers/{snap.umkm_id}",
        json={"products": [product("29300", unit, 1000)]},
        headers=koperasi,
    )
    assert r.status_code == 200, r.text
    anchor = mint(app, "anchor", actor_id=await new_anchor(client, app))
    req = (
        await client.post(
            "/v1/procurement-requests",
            json=request_body("29300", unit, 100),
            headers=anchor | idem(),
        )
    ).json()
    m = (await client.post(f"/v1/procurement-requests/{req['id']}/matches", headers=anchor)).json()
    assert [c["umkm_id"] for c in m["candidates"]] == [str(snap.umkm_id)]
    r = await client.post(
        f"/v1/procurement-requests/{req['id']}/awards",
        json={
            "match_id": m["id"],
            "lines": [{"umkm_id": str(snap.umkm_id), "quantity": "100"}],
            "unit_price_idr": 15_000,
        },
        headers=anchor | idem(),
    )
    assert r.status_code == 201, r.text
    po_id = r.json()["orders"][0]["id"]
    r = await client.post(f"/v1/purchase-orders/{po_id}/accept", headers=koperasi)
    assert r.status_code == 200

    records = await read_topic(kafka_bootstrap, "umkm.supply-chain.v1", po_id, 2)
    headers = [dict(m.headers) for m in records]
    assert [h["ce_type"] for h in headers] == [
        b"id.umkm.supply_chain.purchase_order.issued.v1",
        b"id.umkm.supply_chain.purchase_order.accepted.v1",
    ]
    assert all(h["ce_source"] == b"/supply-chain" for h in headers)
    issued = orjson.loads(records[0].value)
    assert issued["amount_idr"] == 1_500_000 and issued["umkm_id"] == str(snap.umkm_id)
