"""A merge reaches a real Kafka broker: UmkmMerged keyed by the merged record (after its own
earlier events), UmkmUpdated keyed by the survivor."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from registry_support import (
    BANDUNG,
    idem,
    mint,
    new_umkm,
    read_registry_topic,
    registry_settings,
    valid_nik,
)

from umkm_registry.app import MIGRATIONS, build
from umkm_shared.db import upgrade


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
