"""Over the real Kafka broker: supply-chain and registry events published to their topics
reach the broker's consumer (read models), an application is pre-filled from the purchase
order, and the anchor's InvoicePaid on Kafka repays the loan in the closed loop; the broker's
own events reach `umkm.financing.v1` through the outbox relay."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from financing_support import (
    anchor_event,
    financing_settings,
    idem,
    mint,
    new_order,
    offer_body,
    onboard_bank,
    programme_body,
    publish,
    umkm_event,
)

from umkm_financing.app import MIGRATIONS, build
from umkm_shared.db import upgrade
from umkm_shared.events.clustering import CLUSTERING_TOPIC
from umkm_shared.events.financing import FINANCING_TOPIC
from umkm_shared.events.registry import REGISTRY_TOPIC
from umkm_shared.events.supply_chain import SUPPLY_CHAIN_TOPIC
from umkm_shared.ids import new_id
from umkm_shared.messaging.kafka import KafkaBus, ensure_topics

TOPICS = [SUPPLY_CHAIN_TOPIC, REGISTRY_TOPIC, CLUSTERING_TOPIC, FINANCING_TOPIC]


async def start_group_at_end(bootstrap: str, group: str, topics: list[str]) -> None:
    """Commit the current end offsets for a new group, so it reads only what comes next
    (the shared broker may hold other suites' history)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        parts = [TopicPartition(t, p) for t in topics for p in await producer.partitions_for(t)]
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(parts)
        ends = await consumer.end_offsets(parts)
        await consumer.commit(dict(ends.items()))
    finally:
        await consumer.stop()


async def eventually(check: Callable[[], Any], seconds: float = 30) -> Any:
    async with asyncio.timeout(seconds):
        while True:
            value = await check()
            if value:
                return value
            await asyncio.sleep(0.2)


async def test_supply_chain_events_on_kafka_drive_prefill_and_closed_loop(
    make_database: Callable[[str], Any], kafka_bootstrap: str, keys: dict[str, Any]
) -> None:
    await ensure_topics(kafka_bootstrap, TOPICS, partitions=3)
    group = f"financing-test-{new_id().hex}"
    await start_group_at_end(kafka_bootstrap, group, TOPICS[:3])
    url: str = await make_database("financing_kafka")
    await upgrade(url, MIGRATIONS)
    app, _ = build(
        financing_settings(url, keys, kafka_bootstrap_servers=kafka_bootstrap, consumer_group=group)
    )
    producer = KafkaBus(kafka_bootstrap, client_id="test-supply-chain")
    await producer.start()
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://f.test") as client:
                anchor_id, umkm = new_id(), new_id()
                await publish(producer, anchor_event(anchor_id))
                await publish(producer, umkm_event(umkm), source="/registry")
                order = new_order(anchor_id, umkm, amount=90_000_000)
                await publish(producer, order.issued(), order.accepted(), order.received(),
                              order.invoiced())  # fmt: skip
                bank = await onboard_bank(client, app)
                anchor = mint(app, "anchor", actor_id=str(anchor_id))

                async def programme_created() -> bool:
                    r = await bank.post("/v1/bank/programmes", programme_body(anchor_id))
                    return r.status_code == 201

                await eventually(programme_created)  # the anchor arrived over Kafka

                async def opened() -> dict[str, Any] | None:
                    r = await client.post(
                        "/v1/applications",
                        json={"product": "invoice_financing", "po_id": str(order.po_id)},
                        headers=anchor | idem(),
                    )
                    return r.json() if r.status_code == 201 else None

                app_json = await eventually(opened)
                assert app_json["amount_requested_idr"] == 90_000_000  # pre-filled
                assert app_json["status"] == "routed", app_json["prescreen"]
                app_id = app_json["id"]
                r = await bank.post(f"/v1/bank/applications/{app_id}/offers",
                                    offer_body(amount_idr=72_000_000, fees_idr=0))  # fmt: skip
                offer = r.json()["id"]
                await client.post(f"/v1/applications/{app_id}/offers/{offer}/accept",
                                  headers=anchor | idem())  # fmt: skip
                await bank.post(f"/v1/bank/applications/{app_id}/decision", {"decision": "approve"})
                await bank.post(f"/v1/bank/applications/{app_id}/agreement",
                                {"agreement_reference": "K", "signed_on": "2026-11-01"})  # fmt: skip
                r = await bank.post(
                    f"/v1/bank/applications/{app_id}/disbursement",
                    {"amount_idr": 72_000_000, "disbursed_on": "2026-11-01", "reference": "KD"},
                )
                loan_id = r.json()["id"]

                await publish(producer, order.paid())

                async def repaid() -> dict[str, Any] | None:
                    r = await bank.get(f"/v1/bank/loans/{loan_id}")
                    return r.json() if r.json()["status"] == "closed" else None

                loan = await eventually(repaid)
                (rep,) = loan["repayments"]
                assert rep["principal_idr"] == 72_000_000
                assert (
                    rep["interest_idr"] + rep["principal_idr"] + rep["remainder_idr"] == 90_000_000
                )

        # The broker's events went out through the outbox relay.
        consumer = AIOKafkaConsumer(
            FINANCING_TOPIC, bootstrap_servers=kafka_bootstrap, group_id=f"t-{new_id().hex}",
            auto_offset_reset="earliest", enable_auto_commit=False,
        )  # fmt: skip
        await consumer.start()
        types: list[bytes] = []
        try:
            async with asyncio.timeout(30):
                while b"id.umkm.financing.loan.closed.v1" not in types:
                    for records in (await consumer.getmany(timeout_ms=500)).values():
                        for m in records:
                            if m.key == app_id.encode():
                                types.append(dict(m.headers)["ce_type"])
                                assert orjson.loads(m.value)["application_id"] == app_id
        finally:
            await consumer.stop()
        assert types[0] == b"id.umkm.financing.application.submitted.v1"
    finally:
        await producer.stop()
