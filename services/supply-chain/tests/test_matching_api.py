"""Matching over supplier profiles built from registry events: hard filters, the score and its
breakdown checked against the seeded data, bundles with the fewest members, isolation."""

from __future__ import annotations

import itertools
import math
from datetime import date, timedelta

import httpx
from fastapi import FastAPI
from sc_support import (
    PLANT,
    idem,
    mint,
    new_anchor,
    publish,
    request_body,
    seed_supplier,
    unique_unit,
)

from umkm_shared.events.registry import Certification, UmkmDeactivated
from umkm_shared.ids import new_id
from umkm_shared.runtime import ServiceRuntime
from umkm_supply_chain.matching import IndexSync, MatchQuery, SupplierIndex, match


def km(lat: float, lon: float) -> float:
    p1, p2 = math.radians(lat), math.radians(PLANT[0])
    dp, dl = p2 - p1, math.radians(PLANT[1] - lon)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(a))


async def test_hard_filters_and_score_breakdown(
    client: httpx.AsyncClient, app: FastAPI, runtime: ServiceRuntime
) -> None:
    unit = unique_unit()
    far_future = date.today() + timedelta(days=3650)
    sni = [Certification(kind="sni", valid_until=far_future)]
    near = await seed_supplier(
        client,
        app,
        runtime.bus,
        kbli="25920",
        unit=unit,
        capacity=800,
        lat=-6.35,
        lon=107.2,
        certs=sni,
        name="CV DEKAT",
    )
    mid = await seed_supplier(
        client,
        app,
        runtime.bus,
        kbli="25920",
        unit=unit,
        capacity=2000,
        lat=-6.9,
        lon=107.6,
        certs=sni,
        name="CV BANDUNG",
    )
    # filtered out: too far, no SNI, expired SNI, too slow, other KBLI, deactivated
    far = await seed_supplier(
        client,
        app,
        runtime.bus,
        kbli="25920",
        unit=unit,
        capacity=5000,
        lat=-7.8,
        lon=110.4,
        certs=sni,
    )
    no_cert = await seed_supplier(
        client, app, runtime.bus, kbli="25920", unit=unit, capacity=5000, lat=-6.31, lon=107.16
    )
    expired = await seed_supplier(
        client,
        app,
        runtime.bus,
        kbli="25920",
        unit=unit,
        capacity=5000,
        lat=-6.31,
        lon=107.16,
        certs=[Certification(kind="sni", valid_until=date.today() + timedelta(days=10))],
    )
    slow = await seed_supplier(
        client,
        app,
        runtime.bus,
        kbli="25920",
        unit=unit,
        capacity=5000,
        lat=-6.31,
        lon=107.16,
        certs=sni,
        lead_time_days=90,
    )
    other = await seed_supplier(
        client,
        app,
        runtime.bus,
        kbli="25910",
        unit=unit,
        capacity=5000,
        lat=-6.31,
        lon=107.16,
        certs=sni,
    )
    gone = await seed_supplier(
        client,
        app,
        runtime.bus,
        kbli="25920",
        unit=unit,
        capacity=5000,
        lat=-6.31,
        lon=107.16,
        certs=sni,
    )
    await publish(
        runtime.bus,
        UmkmDeactivated(
            umkm_id=gone.umkm_id,
            province_code="32",
            village_code="32.16.01.2001",
            deactivated_at=date.today().isoformat() + "T00:00:00Z",  # type: ignore[arg-type]
        ),
    )

    anchor_id = await new_anchor(client, app)
    anchor = mint(app, "anchor", actor_id=anchor_id)
    body = request_body("25920", unit, 1000, required_certifications=["SNI"], max_distance_km=200)
    r = await client.post("/v1/procurement-requests", json=body, headers=anchor | idem())
    assert r.status_code == 201, r.text
    req = r.json()
    r = await client.post(f"/v1/procurement-requests/{req['id']}/matches", headers=anchor)
    assert r.status_code == 201, r.text
    m = r.json()

    got = [c["umkm_id"] for c in m["candidates"]]
    assert set(got) == {str(near.umkm_id), str(mid.umkm_id)}
    for excluded in (far, no_cert, expired, slow, other, gone):
        assert str(excluded.umkm_id) not in got
    assert m["single_supplier_possible"] is True
    assert m["bundles"] == []

    weights = m["weights"]
    assert abs(sum(weights.values()) - 1) < 1e-3
    for c in m["candidates"]:
        seeded = near if c["umkm_id"] == str(near.umkm_id) else mid
        b = c["breakdown"]
        assert b["category"]["value"] == 1.0
        assert b["capacity"]["value"] == round(min(1.0, seeded.capacity / 1000), 4)
        d = km(seeded.lat, seeded.lon)
        assert abs(c["distance_km"] - d) < 0.05
        assert abs(b["distance"]["value"] - (1 - d / 200)) < 1e-3
        assert b["certifications"]["value"] == 1.0  # holds a certificate valid at the deadline
        assert abs(b["performance"]["value"] - 0.8) < 1e-3  # no history: the prior
        assert b["cluster"]["value"] == 0.0
        assert abs(sum(f["contribution"] for f in b.values()) - c["score"]) < 1e-3
    assert [c["rank"] for c in m["candidates"]] == [1, 2]
    scores = [c["score"] for c in m["candidates"]]
    assert scores == sorted(scores, reverse=True)


async def test_bundle_has_fewest_members_and_least_distance(
    client: httpx.AsyncClient, app: FastAPI, runtime: ServiceRuntime
) -> None:
    unit = unique_unit()
    kop = new_id()
    spots = [  # capacity, lat, lon
        (500, -7.0, 108.5),  # large but far
        (480, -6.32, 107.18),
        (450, -6.4, 107.3),
        (300, -6.3, 107.1),
        (100, -6.31, 107.16),
    ]
    seeded = [
        await seed_supplier(
            client, app, runtime.bus, kbli="29300", unit=unit, capacity=c, lat=la, lon=lo
        )
        for c, la, lo in spots
    ]
    members = [
        await seed_supplier(
            client,
            app,
            runtime.bus,
            kbli="29300",
            unit=unit,
            capacity=c,
            lat=la,
            lon=lo,
            koperasi_id=kop,
        )
        for c, la, lo in [(320, -6.5, 107.4), (320, -6.6, 107.5), (320, -6.7, 107.6)]
    ]
    everyone = seeded + members
    anchor = mint(app, "anchor", actor_id=await new_anchor(client, app))
    q = 900
    r = await client.post(
        "/v1/procurement-requests", json=request_body("29300", unit, q), headers=anchor | idem()
    )
    req = r.json()
    r = await client.post(f"/v1/procurement-requests/{req['id']}/matches", headers=anchor)
    assert r.status_code == 201, r.text
    m = r.json()
    assert m["single_supplier_possible"] is False
    assert m["feasible_count"] == len(everyone)

    # brute force over the data: the fewest members, then the least total distance
    best = None
    for k in range(1, len(everyone) + 1):
        for combo in itertools.combinations(everyone, k):
            if sum(s.capacity for s in combo) >= q:
                dist = sum(km(s.lat, s.lon) for s in combo)
                if best is None or dist < best[1]:
                    best = (combo, dist)
        if best:
            break
    assert best is not None
    bundle = m["bundles"][0]
    assert bundle["kind"] == "suppliers" and bundle["covers_quantity"] is True
    assert bundle["member_count"] == len(best[0]) == 2
    assert {x["umkm_id"] for x in bundle["members"]} == {str(s.umkm_id) for s in best[0]}
    assert abs(bundle["total_distance_km"] - best[1]) < 0.05
    assert abs(sum(x["quantity"] for x in bundle["members"]) - q) < 1e-6
    assert all(x["quantity"] <= x["capacity"] for x in bundle["members"])

    kop_bundles = [b for b in m["bundles"] if b["kind"] == "koperasi"]
    assert len(kop_bundles) == 1
    kb = kop_bundles[0]
    assert kb["group_id"] == str(kop)
    assert kb["member_count"] == 3  # 320 x 3 covers 900; two do not
    assert {x["umkm_id"] for x in kb["members"]} == {str(s.umkm_id) for s in members}

    # the anchor can now read the matched suppliers' profiles, not others'
    r = await client.get(f"/v1/suppliers/{seeded[1].umkm_id}", headers=anchor)
    assert r.status_code == 200
    other_anchor = mint(app, "anchor", actor_id=await new_anchor(client, app, "PT LAIN"))
    r = await client.get(f"/v1/suppliers/{seeded[1].umkm_id}", headers=other_anchor)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.get(f"/v1/matches/{m['id']}", headers=other_anchor)
    assert r.status_code == 404
    r = await client.post(f"/v1/procurement-requests/{req['id']}/matches", headers=other_anchor)
    assert r.status_code == 404
    r = await client.get(f"/v1/procurement-requests/{req['id']}", headers=other_anchor)
    assert r.status_code == 404


async def test_request_needs_a_product_and_a_place(client: httpx.AsyncClient, app: FastAPI) -> None:
    anchor = mint(app, "anchor", actor_id=await new_anchor(client, app))
    body = request_body("12345", "pcs", 10)
    r = await client.post("/v1/procurement-requests", json=body, headers=anchor | idem())
    assert r.status_code == 422
    problem = r.json()
    assert r.headers["content-type"].startswith("application/problem+json")
    assert any(e["field"] == "body.kbli_code" for e in problem["errors"])
    body = request_body("29300", "pcs", -1)
    r = await client.post("/v1/procurement-requests", json=body, headers=anchor | idem())
    assert r.status_code == 422
    assert any(e["field"] == "body.quantity" for e in r.json()["errors"])
    r = await client.post(
        "/v1/procurement-requests", json=request_body("29300", "pcs", 1), headers=anchor
    )
    assert r.status_code == 400  # Idempotency-Key missing
    r = await client.post(
        "/v1/procurement-requests",
        json=request_body("29300", "pcs", 1, deadline="2020-01-01"),
        headers=anchor | idem(),
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "body.deadline"


async def test_full_load_from_postgres_matches_incremental_index(
    client: httpx.AsyncClient, app: FastAPI, runtime: ServiceRuntime
) -> None:
    """The start-up bulk load and the incremental sync build the same index."""
    unit = unique_unit()
    kop = new_id()
    for cap, la, lo in [(300, -6.32, 107.18), (200, -6.4, 107.3), (250, -6.9, 107.6)]:
        await seed_supplier(
            client,
            app,
            runtime.bus,
            kbli="29300",
            unit=unit,
            capacity=cap,
            lat=la,
            lon=lo,
            koperasi_id=kop,
            certs=[Certification(kind="SNI", valid_until=None)],
            keywords=["baut", "mur"],
        )
    ctx = app.state.supply_chain
    await ctx.index_sync.sync()
    fresh = SupplierIndex()
    loaded = await IndexSync(runtime.db, fresh).full_load()
    assert loaded == len(ctx.index)
    query = MatchQuery(
        quantity=600,
        unit=unit,
        latitude=PLANT[0],
        longitude=PLANT[1],
        deadline=date.today() + timedelta(days=30),
        today=date.today(),
        kbli_code="29300",
        keywords=["baut"],
        required_certifications=["sni"],
    )
    expected = match(ctx.index, query)
    assert len(expected["candidates"]) == 3 and expected["bundles"]
    assert match(fresh, query) == expected


async def test_koperasi_batch_enrichment_only_touches_members(
    client: httpx.AsyncClient, app: FastAPI, runtime: ServiceRuntime
) -> None:
    unit = unique_unit()
    kop = new_id()
    a = await seed_supplier(
        client,
        app,
        runtime.bus,
        kbli="29300",
        unit=unit,
        capacity=10,
        lat=-6.3,
        lon=107.1,
        koperasi_id=kop,
    )
    b = await seed_supplier(
        client,
        app,
        runtime.bus,
        kbli="29300",
        unit=unit,
        capacity=10,
        lat=-6.3,
        lon=107.1,
        koperasi_id=kop,
    )
    outsider = await seed_supplier(
        client, app, runtime.bus, kbli="29300", unit=unit, capacity=10, lat=-6.3, lon=107.1
    )
    koperasi = mint(app, "koperasi", actor_id=kop)
    items = [
        {
            "umkm_id": str(s.umkm_id),
            "products": [
                {"kbli_code": "29300", "name": "Baut", "monthly_capacity": "700", "unit": unit}
            ],
            "lead_time_days": 5,
        }
        for s in (a, b, outsider)
    ]
    r = await client.post("/v1/suppliers/batch", json={"items": items}, headers=koperasi | idem())
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["updated"] == 2
    assert [(e["index"], e["status"]) for e in out["errors"]] == [(2, 404)]
    r = await client.get(f"/v1/suppliers/{a.umkm_id}", headers=koperasi)
    assert r.json()["products"][0]["monthly_capacity"] == "700.000"
    assert r.json()["lead_time_days"] == 5
    r = await client.get(f"/v1/suppliers/{outsider.umkm_id}", headers=mint(app, "ministry"))
    assert r.json()["products"][0]["monthly_capacity"] == "10.000"
    bad = [
        {
            "umkm_id": str(a.umkm_id),
            "products": [{"kbli_code": "2930", "name": "x", "monthly_capacity": "1", "unit": unit}],
        }
    ]
    r = await client.post("/v1/suppliers/batch", json={"items": bad}, headers=koperasi | idem())
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "body.items.0.products.0.kbli_code"


async def test_cluster_events_keep_the_highest_assignment_and_feed_the_cluster_factor(
    client: httpx.AsyncClient, app: FastAPI, runtime: ServiceRuntime
) -> None:
    from datetime import UTC, datetime

    from umkm_shared.events.clustering import (
        ClusterFormed,
        ClusterMembersAssigned,
        ClusterMembersRemoved,
        ClusterSnapshot,
    )

    unit = unique_unit()
    anchor_id = await new_anchor(client, app)
    a, b, c = [
        await seed_supplier(
            client, app, runtime.bus, kbli="29300", unit=unit, capacity=100, lat=-6.3, lon=107.15
        )
        for _ in range(3)
    ]
    now = datetime.now(UTC)
    own, other = new_id(), new_id()

    def snap(cluster_id: object, operator: object) -> ClusterSnapshot:
        return ClusterSnapshot(
            cluster_id=cluster_id,
            code="OTOMOTIF-32-0001",
            sector_code="otomotif",
            name="x",
            province_code="32",
            regency_codes=["32.16"],
            status="active",
            member_count=3,
            operator_anchor_id=operator,
            version=1,
            updated_at=now,
        )

    def assigned(cluster_id: object, ids: list[object], seq: int) -> ClusterMembersAssigned:
        return ClusterMembersAssigned(
            cluster_id=cluster_id,
            sector_code="otomotif",
            umkm_ids=ids,
            reason="formation",
            assignment_seq=seq,
            assigned_at=now,
        )

    ids = [a.umkm_id, b.umkm_id, c.umkm_id]
    await publish(
        runtime.bus,
        ClusterFormed(cluster=snap(own, anchor_id)),
        ClusterFormed(cluster=snap(other, None)),
        assigned(own, ids, 10),
        assigned(other, [a.umkm_id], 5),  # older than the assignment above: ignored
        assigned(other, [b.umkm_id], 11),  # newer: b moves
        ClusterMembersRemoved(
            cluster_id=own,
            umkm_ids=[c.umkm_id],
            reason="changed",
            assignment_seq=12,
            removed_at=now,
        ),
        source="/clustering",
    )
    ministry = mint(app, "ministry")
    got = {
        s.umkm_id: (await client.get(f"/v1/suppliers/{s.umkm_id}", headers=ministry)).json()
        for s in (a, b, c)
    }
    assert got[a.umkm_id]["cluster_id"] == str(own)
    assert got[b.umkm_id]["cluster_id"] == str(other)
    assert got[c.umkm_id]["cluster_id"] is None

    anchor = mint(app, "anchor", actor_id=anchor_id)
    req = (
        await client.post(
            "/v1/procurement-requests",
            json=request_body("29300", unit, 50),
            headers=anchor | idem(),
        )
    ).json()
    m = (await client.post(f"/v1/procurement-requests/{req['id']}/matches", headers=anchor)).json()
    factor = {c["umkm_id"]: c["breakdown"]["cluster"]["value"] for c in m["candidates"]}
    assert factor == {str(a.umkm_id): 1.0, str(b.umkm_id): 0.5, str(c.umkm_id): 0.0}
