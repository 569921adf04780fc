"""The service end to end over PostgreSQL and the in-process bus: registry events -> read
model -> formation run (job, events, report) -> reading, holdings, programmes, isolation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import numpy as np
import orjson
import pytest
from clustering_support import message, mint, population_snapshots, registered, snapshot
from fastapi import FastAPI
from sqlalchemy import text

from umkm_clustering.geo import distance_km
from umkm_shared.events.registry import UmkmDeactivated, UmkmUpdated
from umkm_shared.events.supply_chain import AnchorRegistered, AnchorSnapshot
from umkm_shared.ids import new_id
from umkm_shared.runtime import ServiceRuntime

pytestmark = pytest.mark.asyncio(loop_scope="session")

N = 2500
STATE: dict[str, Any] = {}


async def run_formation(
    app: FastAPI, client: httpx.AsyncClient, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    ministry = mint(app, "ministry")
    r = await client.post(
        "/v1/formation-runs", json=body or {}, headers=ministry | {"Idempotency-Key": str(new_id())}
    )
    assert r.status_code == 202, r.text
    run_id = r.json()["id"]
    ran = await app.state.clustering.worker.run_pending()
    assert ran >= 1
    r = await client.get(f"/v1/formation-runs/{run_id}", headers=ministry)
    assert r.json()["status"] == "succeeded", r.json()
    assert r.json()["progress"] == 1
    return r.json()


async def memberships(runtime: ServiceRuntime) -> dict[uuid.UUID, uuid.UUID]:
    async with runtime.db.transaction() as s:
        rows = await s.execute(text("SELECT umkm_id, cluster_id FROM cluster_members"))
        return {u: c for u, c in rows}


async def outbox_types(runtime: ServiceRuntime, since: int) -> list[tuple[str, dict[str, Any]]]:
    async with runtime.db.transaction() as s:
        rows = await s.execute(
            text("SELECT type, data FROM outbox ORDER BY id OFFSET :n"), {"n": since}
        )
        return [(t, d if isinstance(d, dict) else orjson.loads(d)) for t, d in rows]


async def outbox_count(runtime: ServiceRuntime) -> int:
    async with runtime.db.transaction() as s:
        return int((await s.execute(text("SELECT count(*) FROM outbox"))).scalar_one())


async def test_01_events_build_the_read_model(runtime: ServiceRuntime) -> None:
    snaps = population_snapshots(N)
    STATE["snaps"] = snaps
    await runtime.bus.publish([message(registered(s)) for s in snaps])
    # a repeated (older) snapshot does not overwrite a newer one
    first = snaps[0]
    newer = first.model_copy(update={"version": 2, "scale": "kecil"})
    await runtime.bus.publish([message(UmkmUpdated(umkm=newer, changed_fields=["scale"]))])
    await runtime.bus.publish([message(registered(first))])
    async with runtime.db.transaction() as s:
        n = (await s.execute(text("SELECT count(*) FROM umkm"))).scalar_one()
        row = (
            await s.execute(
                text("SELECT version, scale FROM umkm WHERE id = :id"), {"id": first.umkm_id}
            )
        ).one()
        fallback = (
            await s.execute(
                text("SELECT count(*) FROM umkm WHERE location_source LIKE 'centroid:%'")
            )
        ).scalar_one()
    assert n == N
    assert (row.version, row.scale) == (2, "kecil")
    assert fallback > 0  # UMKM without coordinates got a centre point


async def test_02_formation_run_bounds_sectors_events_report(
    app: FastAPI, runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    before = await outbox_count(runtime)
    run = await run_formation(app, client)
    STATE["run1"] = run["id"]
    ministry = mint(app, "ministry")
    async with runtime.db.transaction() as s:
        clusters = (
            (
                await s.execute(
                    text(
                        "SELECT id, code, sector_code, joined_sectors, status, status_reason, member_count "
                        "FROM clusters WHERE status <> 'retired'"
                    )
                )
            )
            .mappings()
            .all()
        )
        counts = dict(
            (
                await s.execute(
                    text("SELECT cluster_id, count(*) FROM cluster_members GROUP BY cluster_id")
                )
            ).all()
        )
        impure = (
            await s.execute(
                text(
                    "SELECT count(*) FROM cluster_members m JOIN clusters c ON c.id = m.cluster_id "
                    "WHERE m.sector_code <> c.sector_code "
                    "AND NOT m.sector_code = ANY(c.joined_sectors)"
                )
            )
        ).scalar_one()
    assert sum(counts.values()) == N
    assert impure == 0  # the sector rule: own sector or an explicitly joined related sector
    for c in clusters:
        assert counts[c["id"]] == c["member_count"]
        if c["status"] == "active":
            assert 100 <= c["member_count"] <= 200, c
        else:
            assert c["member_count"] < 100 and "forming" in c["status_reason"]
            # forming only where the sector has too few UMKM for any cluster of its own
            assert not any(
                o["status"] == "active" and o["sector_code"] == c["sector_code"] for o in clusters
            )
    events = await outbox_types(runtime, before)
    types = [t for t, _ in events]
    assert types.count("id.umkm.clustering.cluster.formed.v1") == len(clusters)
    assigned = [d for t, d in events if t == "id.umkm.clustering.members.assigned.v1"]
    assert sum(len(d["umkm_ids"]) for d in assigned) == N
    assert all(len(d["umkm_ids"]) <= 1000 for d in assigned)
    assert types[-1] == "id.umkm.clustering.formation.completed.v1"
    seqs = [d["assignment_seq"] for d in assigned]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)

    # the report's figures, recomputed from the stored memberships
    r = await client.get(f"/v1/formation-runs/{run['id']}/report", headers=ministry)
    assert r.status_code == 200
    rep = r.json()
    async with runtime.db.transaction() as s:
        rows = (
            await s.execute(
                text(
                    "SELECT m.cluster_id, u.lat, u.lon, u.regency_code FROM cluster_members m "
                    "JOIN umkm u ON u.id = m.umkm_id"
                )
            )
        ).all()
    cid = np.array([str(r0[0]) for r0 in rows])
    lat = np.array([r0[1] for r0 in rows])
    lon = np.array([r0[2] for r0 in rows])
    _, inv, sizes = np.unique(cid, return_inverse=True, return_counts=True)
    clat = np.bincount(inv, weights=lat) / sizes
    clon = np.bincount(inv, weights=lon) / sizes
    d = distance_km(lat, lon, clat[inv], clon[inv])
    q = rep["quality"]
    assert q["size"]["min"] == sizes.min() and q["size"]["max"] == sizes.max()
    assert q["size"]["mean"] == pytest.approx(sizes.mean())
    assert q["compactness_km"]["p95"] == pytest.approx(np.percentile(d, 95), rel=1e-6)
    within = ((sizes >= 100) & (sizes <= 200))[inv].mean()
    assert q["share_members_within_bounds"] == pytest.approx(within)
    assert rep["undersized_groups"], "uneven sectors must produce undersized groups"
    assert all(
        u["action"] in ("joined_neighbour_region", "pooled_provinces", "forming", "joined_sector")
        for u in rep["undersized_groups"]
    )
    html = await client.get(f"/v1/formation-runs/{run['id']}/report.html", headers=ministry)
    assert (
        html.status_code == 200
        and "<svg" in html.text
        and "http"
        not in html.text.split("<svg", 1)[1]
        .split("</svg>")[0]
        .replace("http://www.w3.org/2000/svg", "")
    )
    assert html.text.count("<circle") == len(clusters)


async def test_03_rerun_without_change_is_quiet_and_deterministic(
    app: FastAPI, runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    before_members = await memberships(runtime)
    before = await outbox_count(runtime)
    run = await run_formation(app, client)
    assert await memberships(runtime) == before_members
    types = [t for t, _ in await outbox_types(runtime, before)]
    assert "id.umkm.clustering.members.assigned.v1" not in types
    assert "id.umkm.clustering.members.removed.v1" not in types
    assert run["summary"]["moved"] == 0 and run["summary"]["new_members"] == 0


async def test_04_one_percent_change_keeps_95_percent(
    app: FastAPI, runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    snaps = STATE["snaps"]
    before = await memberships(runtime)
    rng = np.random.default_rng(11)
    k = N // 100
    picks = rng.choice(len(snaps), k, replace=False)
    msgs = []
    for j, i in enumerate(picks):
        s = snaps[int(i)]
        if j % 3 == 0:  # deactivated
            msgs.append(
                message(
                    UmkmDeactivated(
                        umkm_id=s.umkm_id,
                        province_code=s.province_code,
                        village_code=s.village_code,
                        deactivated_at=s.updated_at,
                    )
                )
            )
        elif j % 3 == 1:  # changed sector
            ch = s.model_copy(
                update={
                    "version": s.version + 5,
                    "kbli_primary": s.kbli_primary.model_copy(update={"code": "14111"}),
                }
            )
            msgs.append(message(UmkmUpdated(umkm=ch, changed_fields=["kbli_primary"])))
    fresh = population_snapshots(k // 3 + 1, seed=77)
    msgs += [message(registered(s)) for s in fresh]
    await runtime.bus.publish(msgs)
    # between runs: the new UMKM were assigned at once (live)
    live = await memberships(runtime)
    assert all(s.umkm_id in live for s in fresh)
    await run_formation(app, client)
    after = await memberships(runtime)
    common = [u for u in before if u in after]
    kept = sum(before[u] == after[u] for u in common) / len(common)
    assert kept >= 0.95, kept


async def test_05_reading_and_geojson(app: FastAPI, client: httpx.AsyncClient) -> None:
    ministry = mint(app, "ministry")
    r = await client.get("/v1/clusters", params={"limit": 5}, headers=ministry)
    assert r.status_code == 200 and len(r.json()["items"]) == 5 and r.json()["next_cursor"]
    r2 = await client.get(
        "/v1/clusters", params={"limit": 5, "cursor": r.json()["next_cursor"]}, headers=ministry
    )
    assert {c["code"] for c in r.json()["items"]}.isdisjoint(c["code"] for c in r2.json()["items"])
    c = r.json()["items"][0]
    m = await client.get(f"/v1/clusters/{c['id']}/members", params={"limit": 50}, headers=ministry)
    assert m.status_code == 200 and len(m.json()["items"]) == 50
    g = await client.get("/v1/clusters.geojson", params={"extent": True}, headers=ministry)
    assert g.json()["type"] == "FeatureCollection"
    assert g.json()["features"][0]["geometry"]["type"] == "Polygon"
    r = await client.get(
        "/v1/clusters", params={"sector": "kuliner", "province": "32"}, headers=ministry
    )
    assert all(
        c["sector_code"] == "kuliner" and "32" in c["province_codes"] for c in r.json()["items"]
    )


async def test_06_dinas_sees_only_clusters_touching_its_region(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    dinas = mint(app, "dinas", wilayah="33")
    r = await client.get("/v1/clusters", params={"limit": 200}, headers=dinas)
    assert r.status_code == 200
    assert all("33" in c["province_codes"] for c in r.json()["items"])
    ministry = mint(app, "ministry")
    other = await client.get(
        "/v1/clusters", params={"province": "35", "limit": 200}, headers=ministry
    )
    outside = [c for c in other.json()["items"] if "33" not in c["province_codes"]]
    assert outside
    r = await client.get(f"/v1/clusters/{outside[0]['id']}", headers=dinas)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.get(f"/v1/clusters/{outside[0]['id']}/members", headers=dinas)
    assert r.status_code == 404
    # a Dinas may not start runs nor change the taxonomy
    r = await client.post(
        "/v1/formation-runs", json={}, headers=dinas | {"Idempotency-Key": str(new_id())}
    )
    assert r.status_code == 403
    r = await client.put("/v1/taxonomy", json={"sectors": [], "rules": []}, headers=dinas)
    assert r.status_code == 403
    r = await client.get(f"/v1/formation-runs/{STATE['run1']}/report", headers=dinas)
    assert r.status_code == 403  # the national report lists every cluster
    bank = mint(app, "bank")
    assert (await client.get("/v1/clusters", headers=bank)).status_code == 403
    # programmes: only inside its wilayah
    body = {"name": "Pelatihan halal", "kind": "certification", "wilayah_codes": ["35"]}
    r = await client.post(
        "/v1/programmes", json=body, headers=dinas | {"Idempotency-Key": str(new_id())}
    )
    assert r.status_code == 403 and r.json()["field"] == "body.wilayah_codes[0]"


async def test_07_bad_input_is_problem_json_naming_the_field(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ministry = mint(app, "ministry")
    r = await client.put(
        "/v1/taxonomy",
        json={
            "sectors": [{"code": "kuliner", "name": "K"}],
            "rules": [{"kbli_prefix": "56", "sector": "nope"}],
        },
        headers=ministry,
    )
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "rules[0].sector" in r.text
    r = await client.get("/v1/clusters", params={"province": "9x"}, headers=ministry)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "query.province"
    r = await client.post(
        "/v1/formation-runs",
        json={"min_size": 100, "max_size": 150},
        headers=ministry | {"Idempotency-Key": str(new_id())},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.max_size"
    r = await client.get("/v1/clusters", params={"cursor": "!!"}, headers=ministry)
    assert r.status_code == 422


async def test_08_taxonomy_versions_drive_the_next_run(
    app: FastAPI, runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    ministry = mint(app, "ministry")
    cur = (await client.get("/v1/taxonomy", headers=ministry)).json()
    body = {
        "sectors": cur["sectors"],
        "rules": cur["rules"] + [{"kbli_prefix": "47", "sector": "kuliner"}],
        "note": "retail to kuliner",
    }
    r = await client.put("/v1/taxonomy", json=body, headers=ministry)
    assert r.status_code == 201 and r.json()["version"] == cur["version"] + 1
    versions = (await client.get("/v1/taxonomy/versions", headers=ministry)).json()["items"]
    assert versions[0]["version"] == cur["version"] + 1
    run = await run_formation(app, client)
    assert run["taxonomy_version"] == cur["version"] + 1
    async with runtime.db.transaction() as s:
        left = (
            await s.execute(
                text(
                    "SELECT count(*) FROM clusters WHERE sector_code = 'kbli-47' "
                    "AND status <> 'retired'"
                )
            )
        ).scalar_one()
        wrong = (
            await s.execute(
                text(
                    "SELECT count(*) FROM cluster_members m JOIN umkm u ON u.id = m.umkm_id "
                    "WHERE u.kbli_code LIKE '47%' AND m.sector_code <> 'kuliner'"
                )
            )
        ).scalar_one()
    assert left == 0 and wrong == 0


async def test_09_holdings_operator_and_koperasi(
    app: FastAPI, runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    ministry = mint(app, "ministry")
    c = (
        await client.get("/v1/clusters", params={"status": "active", "limit": 1}, headers=ministry)
    ).json()["items"][0]
    anchor = new_id()
    r = await client.put(
        f"/v1/clusters/{c['id']}/operator", json={"anchor_id": str(anchor)}, headers=ministry
    )
    assert r.status_code == 200 and r.json()["operator"]["status"] == "pending"
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    await runtime.bus.publish(
        [
            message(
                AnchorRegistered(
                    anchor=AnchorSnapshot(
                        anchor_id=anchor,
                        name="PT Astra",
                        sector="otomotif",
                        status="active",
                        version=1,
                        registered_at=now,
                        updated_at=now,
                    )
                ),
                "/supply-chain",
            )
        ]
    )
    r = await client.get(f"/v1/clusters/{c['id']}", headers=ministry)
    assert r.json()["operator"] == {"anchor_id": str(anchor), "umkm_id": None, "status": "resolved"}
    micro = STATE["snaps"][5].umkm_id
    r = await client.put(
        f"/v1/clusters/{c['id']}/operator", json={"umkm_id": str(micro)}, headers=ministry
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.umkm_id"
    medium = snapshot(new_id(), "56102", "32.73", -6.9, 107.6, scale="menengah")
    await runtime.bus.publish([message(registered(medium))])
    r = await client.put(
        f"/v1/clusters/{c['id']}/operator", json={"umkm_id": str(medium.umkm_id)}, headers=ministry
    )
    assert r.status_code == 200 and r.json()["operator"]["umkm_id"] == str(medium.umkm_id)
    r = await client.get(f"/v1/clusters/{c['id']}/koperasi", headers=ministry)
    assert r.status_code == 200 and r.json()["items"] == []


async def test_10_programmes(app: FastAPI, client: httpx.AsyncClient) -> None:
    dinas = mint(app, "dinas", wilayah="33")
    body = {
        "name": "Akses KUR klaster",
        "kind": "financing_access",
        "sector_codes": ["kuliner"],
        "wilayah_codes": ["33"],
        "scales": ["mikro"],
    }
    r = await client.post(
        "/v1/programmes", json=body, headers=dinas | {"Idempotency-Key": str(new_id())}
    )
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    matched = (await client.get(f"/v1/programmes/{pid}/matched-clusters", headers=dinas)).json()
    assert matched["items"] and all(
        c["sector_code"] == "kuliner" and "33" in c["province_codes"] for c in matched["items"]
    )
    target = matched["items"][0]
    r = await client.post(
        f"/v1/programmes/{pid}/enrolments", json={"cluster_ids": [target["id"]]}, headers=dinas
    )
    assert r.status_code == 200
    r = await client.post(
        f"/v1/programmes/{pid}/results",
        json={"cluster_id": target["id"], "metric": "trained_umkm", "value": 42},
        headers=dinas,
    )
    assert r.status_code == 201
    got = (await client.get(f"/v1/programmes/{pid}", headers=dinas)).json()
    row = next(c for c in got["clusters"] if c["cluster_id"] == target["id"])
    assert row["enrolled_umkm"] == target["member_count"]
    assert row["results"] == {"trained_umkm": 42}
    other = mint(app, "dinas", wilayah="35")
    assert (await client.get(f"/v1/programmes/{pid}", headers=other)).status_code == 404


async def test_11_live_split_and_merge_between_runs(
    app: FastAPI, runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    ministry = mint(app, "ministry")
    items = (await client.get("/v1/clusters", params={"limit": 200}, headers=ministry)).json()[
        "items"
    ]
    by_sector: dict[str, list[dict[str, Any]]] = {}
    for x in items:
        by_sector.setdefault(x["sector_code"], []).append(x)
    kbli_of = {
        "kuliner": "56102",
        "fesyen": "14111",
        "pertanian": "01131",
        "pariwisata": "55130",
        "otomotif": "45407",
        "kbli-47": "47112",
    }
    sector, group = min(
        (
            (k, v)
            for k, v in by_sector.items()
            if k in kbli_of and all(x["status"] == "active" for x in v)
        ),
        key=lambda kv: (len(kv[1]), kv[0]),
    )
    assert len(group) <= 5
    c = max(group, key=lambda x: x["member_count"])
    before = await outbox_count(runtime)
    # fill every cluster of the sector, then one more: the nearest full one splits
    grow = sum(200 - x["member_count"] for x in group) + 1
    lat, lon = c["centre"]["latitude"], c["centre"]["longitude"]
    regency = c["regency_codes"][0]
    kbli = kbli_of[sector]
    newcomers = [snapshot(new_id(), kbli, regency, lat + i * 1e-5, lon) for i in range(grow)]
    await runtime.bus.publish([message(registered(s)) for s in newcomers])
    events = await outbox_types(runtime, before)
    split = [d for t, d in events if t == "id.umkm.clustering.cluster.split.v1"]
    assert len(split) == 1, (sector, [x["member_count"] for x in group])
    got = (
        await client.get(f"/v1/clusters/{split[0]['cluster']['cluster_id']}", headers=ministry)
    ).json()
    assert got["status"] == "retired", got
    for part in split[0]["into_cluster_ids"]:
        p = (await client.get(f"/v1/clusters/{part}", headers=ministry)).json()
        assert p["status"] == "active" and 100 <= p["member_count"] <= 200
    # merge: deactivate members of a cluster until it falls under min
    target = (
        await client.get(f"/v1/clusters/{split[0]['into_cluster_ids'][0]}", headers=ministry)
    ).json()
    members = (
        await client.get(
            f"/v1/clusters/{target['id']}/members", params={"limit": 1000}, headers=ministry
        )
    ).json()["items"]
    drop = members[: target["member_count"] - 99]
    before = await outbox_count(runtime)
    await runtime.bus.publish(
        [
            message(
                UmkmDeactivated(
                    umkm_id=uuid.UUID(m["umkm_id"]),
                    province_code=m["village_code"][:2],
                    village_code=m["village_code"],
                    deactivated_at=datetime.now(UTC),
                )
            )
            for m in drop
        ]
    )
    got = (await client.get(f"/v1/clusters/{target['id']}", headers=ministry)).json()
    types = [t for t, _ in await outbox_types(runtime, before)]
    assert "id.umkm.clustering.members.removed.v1" in types
    if got["status"] == "retired":
        assert "id.umkm.clustering.cluster.merged.v1" in types
    else:  # no neighbour with room: marked forming, with the reason
        assert got["status"] == "forming" and "fewer than 100" in got["status_reason"]


async def test_12_crashed_apply_leaves_nothing_and_run_is_requeued(
    app: FastAPI,
    runtime: ServiceRuntime,
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ministry = mint(app, "ministry")
    worker = app.state.clustering.worker
    # changes that the next run would apply
    await runtime.bus.publish([message(registered(s)) for s in population_snapshots(40, seed=99)])
    before = await memberships(runtime)
    async with runtime.db.transaction() as s:
        clusters_before = (
            await s.execute(
                text("SELECT id, status, member_count, version FROM clusters ORDER BY id")
            )
        ).all()
    outbox_before = await outbox_count(runtime)

    async def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("crash while publishing")

    monkeypatch.setattr(worker.runner.outbox, "enqueue_many", boom)
    r = await client.post(
        "/v1/formation-runs",
        json={"mode": "rebuild"},
        headers=ministry | {"Idempotency-Key": str(new_id())},
    )
    run_id = r.json()["id"]
    await worker.run_pending()
    monkeypatch.undo()
    got = (await client.get(f"/v1/formation-runs/{run_id}", headers=ministry)).json()
    assert got["status"] == "failed" and "crash" in got["error"]
    assert await memberships(runtime) == before
    async with runtime.db.transaction() as s:
        assert (
            await s.execute(
                text("SELECT id, status, member_count, version FROM clusters ORDER BY id")
            )
        ).all() == (clusters_before)
    assert await outbox_count(runtime) == outbox_before
    # a run left 'running' by a dead worker is picked up again
    async with runtime.db.transaction() as s:
        await s.execute(
            text("UPDATE formation_runs SET status = 'running' WHERE id = :id"), {"id": run_id}
        )
    await worker.run_pending()
    got = (await client.get(f"/v1/formation-runs/{run_id}", headers=ministry)).json()
    assert got["status"] == "succeeded"


async def test_13_one_run_at_a_time(app: FastAPI, client: httpx.AsyncClient) -> None:
    import asyncio

    ministry = mint(app, "ministry")
    await client.post(
        "/v1/formation-runs", json={}, headers=ministry | {"Idempotency-Key": str(new_id())}
    )
    worker = app.state.clustering.worker
    ran = await asyncio.gather(worker.run_pending(), worker.run_pending())
    assert sorted(ran) == [0, 1]


async def test_14_schedule_queues_a_run_when_due(app: FastAPI, runtime: ServiceRuntime) -> None:
    from umkm_clustering.jobs import FormationWorker

    base = app.state.clustering.settings
    due = FormationWorker(
        runtime.db, runtime.outbox, base.model_copy(update={"formation_interval_hours": 1e-6})
    )
    off = FormationWorker(runtime.db, runtime.outbox, base)
    assert await off.run_pending() == 0  # schedule off, nothing queued
    assert await due.run_pending() == 1
    async with runtime.db.transaction() as s:
        by = (
            await s.execute(
                text(
                    "SELECT requested_by, status FROM formation_runs ORDER BY requested_at DESC LIMIT 1"
                )
            )
        ).one()
    assert tuple(by) == ("schedule", "succeeded")
