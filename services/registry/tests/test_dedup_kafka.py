"""A merge reaches a real Kafka broker: UmkmMerged keyed by the merged record (after its own
earlier events), UmkmUpdated keyed by the survivor."""

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
    valid_nik,
)


async def test_merge_events_reach_kafka_in_order_per_record(
    kafka_registry: tuple[FastAPI, httpx.AsyncClient], kafka_bootstrap: str
) -> None:
    app, client = kafka_registry
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

    by_key = await read_registry_topic(kafka_bootstrap, {survivor: 2, merged: 2})

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
