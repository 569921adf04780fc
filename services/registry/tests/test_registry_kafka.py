"""The registry's events reach a real Kafka broker with CloudEvents headers, through the
outbox and relay, once per change."""

from __future__ import annotations

import httpx
import orjson
from fastapi import FastAPI
from registry_support import (
    BANDUNG,
    idem,
    mint,
    new_umkm,
    read_registry_topic,
)


async def test_registered_event_is_read_from_kafka_with_cloudevents_headers(
    kafka_registry: tuple[FastAPI, httpx.AsyncClient], kafka_bootstrap: str
) -> None:
    app, client = kafka_registry
    dinas = mint(app, "dinas", wilayah=BANDUNG)
    r = await client.post("/v1/umkm", json=new_umkm(), headers=dinas | idem())
    assert r.status_code == 201, r.text
    umkm_id = r.json()["id"]
    r = await client.patch(
        f"/v1/umkm/{umkm_id}", json={"workforce": 8}, headers=dinas | {"If-Match": '"1"'}
    )
    assert r.status_code == 200

    mine = (await read_registry_topic(kafka_bootstrap, {umkm_id: 2}))[umkm_id]

    headers = [dict(m.headers) for m in mine]
    assert [h["ce_type"] for h in headers] == [
        b"id.umkm.registry.umkm.registered.v1",
        b"id.umkm.registry.umkm.updated.v1",
    ]
    for h in headers:
        assert h["ce_specversion"] == b"1.0"
        assert h["ce_source"] == b"/registry"
        assert h["ce_subject"] == umkm_id.encode()
        assert h["ce_id"] and h["ce_time"]

    body = orjson.loads(mine[0].value)
    assert body["umkm"]["umkm_id"] == umkm_id
    assert body["umkm"]["owner_nik_masked"].startswith("3273")
    assert "owner_nik" not in body["umkm"]  # the NIK itself never leaves the registry
