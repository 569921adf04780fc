"""Benchmark: supplier matching over 1,000,000 synthetic supplier profiles.

    uv run python bench/matching.py                  # 1M profiles, 300 requests
    uv run python bench/matching.py --suppliers 100000 --requests 100
    uv run python scripts/devstack.py run --postgres -- \
        uv run python bench/matching.py --db-rows 100000

Writes bench/results/matching.json.

Data: `--suppliers` synthetic UMKM from `umkm_shared.synthetic` (KBLI, coordinates — about 30%
have none —, certifications with validity, product names), turned into supplier profiles with
vectorised numpy: monthly capacity (log-normal, larger for kecil/menengah), a unit per KBLI,
lead time, koperasi (by kab/kota) and cluster (by KBLI and province) membership, order history.
About 1.3 product rows per profile. Cached under .cache/bench/.

Requests (`--requests`, mixed): a third "single" (some supplier can deliver it), a third
"bundle" (quantity 1.5-6x the largest feasible capacity, so only bundles cover it), a third by
keywords only; random maximum distance (none, 100, 250, 500 km), 15% require halal. The
quantities are calibrated on the data before the clock starts.

Measured, per request, in-process (no HTTP): `match()` = hard filters + score + top candidates
+ bundles (open, per koperasi, per cluster) when needed. Baseline in the same run on the same
index and requests: `match(scan=True)`, which skips the KBLI/keyword postings and masks every
product row (an unindexed full scan, still vectorised). Both must give identical answers; the
benchmark counts mismatches.

`--db-rows N` (needs DATABASE_URL): also writes N profiles to a fresh supply-chain database with
COPY and times the index load from PostgreSQL (`IndexSync.sync`), as the service does at start.

The machine is shared with other work while it runs: read the ratio and the p99 with that in mind.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from benchlib import machine_info

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "matching.json"
CACHE = ROOT / ".cache" / "bench"
GOAL_P99_MS = 100.0
UNITS = ("pcs", "kg", "liter", "unit", "m")
CERT_KINDS = ("halal", "pirt", "bpom", "sni", "other")
EPOCH = date(1970, 1, 1)
NO_EXPIRY = np.iinfo(np.int32).max


def log(msg: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


# --- data ------------------------------------------------------------------------------------


def build_dataset(n: int, seed: int) -> dict[str, Any]:
    """Supplier profile columns for n synthetic UMKM (cached as .npz)."""
    path = CACHE / f"matching_{n}_s{seed}.npz"
    if path.exists():
        log(f"dataset from cache {path.name}")
        with np.load(path, allow_pickle=True) as f:
            return {k: f[k] for k in f.files}
    from umkm_shared.synthetic import generate_batches
    from umkm_supply_chain.domain import keyword_tokens

    rng = np.random.default_rng(seed)
    cols: dict[str, list[np.ndarray]] = {
        k: [] for k in ("kbli", "lat", "lon", "name", "scale", "regency", "products", "certs")
    }
    done = 0
    for batch in generate_batches(n, 100_000, seed=seed):
        c = batch.columns
        cols["kbli"].append(c["kbli_code"].astype("U5"))
        cols["lat"].append(c["latitude"].astype(np.float64))
        cols["lon"].append(c["longitude"].astype(np.float64))
        cols["name"].append(c["business_name"])
        cols["scale"].append(c["scale"].astype("U10"))
        cols["regency"].append(np.array([v[:5] for v in c["village_code"]], dtype="U5"))
        cols["products"].append(c["products"])
        cols["certs"].append(c["certifications"])
        done += len(batch)
        log(f"generated {done:,}/{n:,} UMKM")
    kbli = np.concatenate(cols["kbli"])
    lat = np.concatenate(cols["lat"])
    lon = np.concatenate(cols["lon"])
    names = np.concatenate(cols["name"])
    scale = np.concatenate(cols["scale"])
    regency = np.concatenate(cols["regency"])
    products = np.concatenate(cols["products"])
    certs = np.concatenate(cols["certs"])

    # certifications: valid-until day per kind (0 = none)
    cert_until = {k: np.zeros(n, dtype=np.int32) for k in CERT_KINDS}
    for i, held in enumerate(certs.tolist()):
        for c in held:
            until = NO_EXPIRY if c.valid_until is None else (c.valid_until - EPOCH).days
            arr = cert_until[c.kind]
            arr[i] = max(arr[i], until)

    # products: the first product name (and 30% a second), capacity by scale
    kbli_int = kbli.astype(np.int32)
    second = rng.random(n) < 0.3
    p_supplier = np.concatenate([np.arange(n), np.flatnonzero(second)]).astype(np.int64)
    p_kbli = kbli_int[p_supplier]
    mult = np.select([scale == "kecil", scale == "menengah"], [5.0, 20.0], 1.0)[p_supplier]
    p_capacity = np.round(rng.lognormal(5.0, 1.1, len(p_supplier)) * mult)
    p_unit = (p_kbli % len(UNITS)).astype(np.int32)  # one unit per KBLI
    p_lead = np.where(rng.random(len(p_supplier)) < 0.1, -1, rng.integers(0, 30, len(p_supplier)))
    plist = products.tolist()
    p_names = [
        (plist[s][0] if j < n else (plist[s][1] if len(plist[s]) > 1 else plist[s][0]))
        if plist[s]
        else "produk"
        for j, s in enumerate(p_supplier.tolist())
    ]
    vocab: dict[str, int] = {}
    tok_cache: dict[str, list[int]] = {}
    t_rows: list[int] = []
    t_codes: list[int] = []
    for row, pname in enumerate(p_names):
        codes = tok_cache.get(pname)
        if codes is None:
            codes = tok_cache[pname] = [
                vocab.setdefault(t, len(vocab)) for t in keyword_tokens(pname)
            ]
        t_rows.extend([row] * len(codes))
        t_codes.extend(codes)

    # koperasi: 25% of UMKM, small koperasi within a kab/kota; clusters: 60%, KBLI x province
    reg_idx = np.unique(regency, return_inverse=True)[1]
    in_kop = rng.random(n) < 0.25
    kop_key = reg_idx * 64 + rng.integers(0, 64, n)
    kop_codes = np.unique(kop_key[in_kop], return_inverse=True)[1]
    koperasi = np.full(n, -1, dtype=np.int32)
    koperasi[in_kop] = kop_codes
    in_cluster = rng.random(n) < 0.6
    cl_key = kbli_int.astype(np.int64) * 100 + np.array([int(r[:2]) for r in regency])
    cl_codes = np.unique(cl_key[in_cluster], return_inverse=True)[1]
    cluster = np.full(n, -1, dtype=np.int32)
    cluster[in_cluster] = cl_codes
    completed = rng.poisson(2.0, n).astype(np.int32)
    on_time = rng.binomial(completed, 0.85).astype(np.int32)
    received = completed * 100.0
    accepted = received * rng.uniform(0.85, 1.0, n)

    data: dict[str, Any] = {
        "lat": lat,
        "lon": lon,
        "names": names,
        "lead": np.where(rng.random(n) < 0.3, -1, rng.integers(1, 21, n)).astype(np.int32),
        **{f"cert_{k}": v for k, v in cert_until.items()},
        "completed": completed,
        "on_time": on_time,
        "received": received,
        "accepted": accepted,
        "koperasi": koperasi,
        "cluster": cluster,
        "p_supplier": p_supplier,
        "p_kbli": p_kbli,
        "p_capacity": p_capacity,
        "p_unit": p_unit,
        "p_lead": p_lead.astype(np.int32),
        "p_names": np.array(p_names, dtype=object),
        "t_rows": np.array(t_rows, dtype=np.int64),
        "t_codes": np.array(t_codes, dtype=np.int64),
        "t_values": np.array(sorted(vocab, key=vocab.__getitem__), dtype=object),
    }
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, **data)
    log(f"dataset cached: {path.name}")
    return data


def build_index(data: dict[str, Any]) -> Any:
    from umkm_supply_chain.matching import SupplierIndex

    index = SupplierIndex()
    n = len(data["lat"])
    n_kop = int(data["koperasi"].max()) + 1
    n_cl = int(data["cluster"].max()) + 1
    index.bulk_load(
        ids=[uuid.UUID(int=i + 1) for i in range(n)],
        names=data["names"].tolist(),
        lat=data["lat"],
        lon=data["lon"],
        lead=data["lead"],
        cert_until={k: data[f"cert_{k}"] for k in CERT_KINDS},
        perf=(data["completed"], data["on_time"], data["received"], data["accepted"]),
        koperasi=data["koperasi"],
        cluster=data["cluster"],
        p_supplier=data["p_supplier"],
        p_kbli=data["p_kbli"],
        p_capacity=data["p_capacity"],
        p_unit=np.array(UNITS)[data["p_unit"]],
        p_lead=data["p_lead"],
        p_names=data["p_names"].tolist(),
        token_rows=data["t_rows"],
        token_values=data["t_values"].tolist(),
        token_codes=data["t_codes"],
        koperasi_ids=[uuid.UUID(int=(1 << 64) + i) for i in range(n_kop)],
        cluster_ids=[uuid.UUID(int=(2 << 64) + i) for i in range(n_cl)],
    )
    # a few clusters operated by the benchmark's anchor
    anchor = uuid.UUID(int=7)
    for code in range(0, n_cl, 50):
        index.cluster_operator[code] = anchor
    return index


def make_requests(index: Any, data: dict[str, Any], count: int, seed: int) -> list[Any]:
    """Mixed requests; quantities calibrated against the feasible set (before timing)."""
    from umkm_supply_chain.domain import keyword_tokens
    from umkm_supply_chain.matching import MatchQuery
    from umkm_supply_chain.matching.engine import feasible

    rng = np.random.default_rng(seed + 1)
    with_point = np.flatnonzero(~np.isnan(data["lat"]))
    today = date(2026, 11, 27)
    queries: list[Any] = []
    kinds: list[str] = []
    weights = {
        "category": 0.30,
        "capacity": 0.20,
        "distance": 0.20,
        "certifications": 0.10,
        "performance": 0.15,
        "cluster": 0.05,
    }
    attempts = 0
    while len(queries) < count and attempts < count * 20:
        attempts += 1
        kind = ("single", "bundle", "keywords")[len(queries) % 3]
        s = int(rng.choice(with_point))
        row = int(index.products_of(s)[0])
        kbli = f"{int(index.p_kbli.data[row]):05d}"
        unit = index.units.values[int(index.p_unit.data[row])]
        max_d = [None, 100.0, 250.0, 500.0][int(rng.integers(0, 4))]
        q = MatchQuery(
            quantity=1.0,
            unit=unit,
            latitude=float(data["lat"][s] + rng.normal(0, 0.3)),
            longitude=float(data["lon"][s] + rng.normal(0, 0.3)),
            deadline=today + timedelta(days=int(rng.integers(20, 90))),
            today=today,
            kbli_code=None if kind == "keywords" else kbli,
            keywords=keyword_tokens(index.p_names[row])[:2] if kind == "keywords" else [],
            required_certifications=["halal"] if rng.random() < 0.15 else [],
            max_distance_km=max_d,
            anchor_id=uuid.UUID(int=7),
            weights=weights,
        )
        f = feasible(index, q)
        if f is None or len(f.cap) < 3:
            continue
        top = float(f.cap.max())
        if kind == "bundle":
            q.quantity = round(top * float(rng.uniform(1.5, 6.0)))
            if f.cap.sum() < q.quantity:
                q.quantity = round(float(f.cap.sum()) * 0.8)
            if q.quantity <= top:
                continue
            check = feasible(index, q)  # each supplier's best row depends on the quantity
            if check is None or float(check.cap.max()) >= q.quantity:
                continue
        else:
            q.quantity = max(1.0, round(top * float(rng.uniform(0.2, 0.9))))
        queries.append(q)
        kinds.append(kind)
    return list(zip(kinds, queries, strict=True))


def percentiles(ms: list[float]) -> dict[str, float]:
    a = np.array(ms)
    return {
        "p50_ms": round(float(np.percentile(a, 50)), 2),
        "p90_ms": round(float(np.percentile(a, 90)), 2),
        "p99_ms": round(float(np.percentile(a, 99)), 2),
        "max_ms": round(float(a.max()), 2),
        "mean_ms": round(float(a.mean()), 2),
    }


def run(index: Any, requests: list[Any], *, scan: bool) -> tuple[list[float], list[Any]]:
    from umkm_supply_chain.matching import match

    times: list[float] = []
    results: list[Any] = []
    cpu: list[float] = []
    for _, q in requests:
        t, c = time.perf_counter(), time.thread_time()
        res = match(index, q, scan=scan)
        times.append((time.perf_counter() - t) * 1000)
        cpu.append((time.thread_time() - c) * 1000)
        results.append(res)
    CPU_MS[scan] = cpu
    return times, results


CPU_MS: dict[bool, list[float]] = {}  # CPU time of the matching thread, per request


def naive_columns(index: Any) -> dict[str, list[Any]]:
    """Plain Python lists of every column (prepared once, outside the timing)."""
    c = index.columns(np.arange(index.product_rows, dtype=np.int64))
    out = {k: v.tolist() for k, v in c.items()}
    out["kbli"] = index.p_kbli.view.tolist()
    out["live"] = index.p_live.view.tolist()
    return out


def naive_match(index: Any, cols: dict[str, list[Any]], q: Any) -> int:
    """A row-at-a-time scan in plain Python: hard filters and the weighted score for every
    product row, then the top candidates (no bundles). Returns the feasible count."""
    import math

    unit = index.units.lookup(q.unit)
    code = int(q.kbli_code) if q.kbli_code else None
    words = set(q.keywords)
    days_left = (q.deadline - q.today).days
    deadline_day = (q.deadline - EPOCH).days
    w = q.weights
    total_w = sum(w.values())
    scale = q.max_distance_km or q.default_distance_km
    lat0, lon0 = math.radians(q.latitude), math.radians(q.longitude)
    names = index.p_names
    found = []
    for i in range(index.product_rows):
        if code is not None and cols["kbli"][i] != code:
            continue
        if code is None and not words & set(names[i].lower().split()):
            continue
        if not cols["live"][i] or cols["unit"][i] != unit or cols["cap"][i] <= 0:
            continue
        if not cols["active"][i]:
            continue
        lead = cols["lead"][i]
        if lead >= 0 and lead > days_left:
            continue
        lat, lon = cols["lat"][i], cols["lon"][i]
        if lat != lat:
            if q.max_distance_km is not None:
                continue
            d = None
        else:
            p1 = math.radians(lat)
            a = (
                math.sin((lat0 - p1) / 2) ** 2
                + math.cos(p1) * math.cos(lat0) * math.sin((lon0 - math.radians(lon)) / 2) ** 2
            )
            d = 2 * 6371.0088 * math.asin(math.sqrt(min(a, 1.0)))
            if q.max_distance_km is not None and d > q.max_distance_km:
                continue
        if q.required_certifications:
            col = index.cert_kinds.lookup(q.required_certifications[0])
            if index.s_cert.data[cols["sup"][i], col] < deadline_day:
                continue
        score = (
            w["category"]
            + w["capacity"] * min(1.0, cols["cap"][i] / q.quantity)
            + w["distance"] * (0.0 if d is None else max(0.0, 1 - d / scale))
            + w["certifications"] * (1.0 if cols["cert_max"][i] >= deadline_day else 0.0)
            + w["performance"] * cols["perf"][i]
            + w["cluster"] * (0.5 if cols["cluster"][i] >= 0 or cols["koperasi"][i] >= 0 else 0)
        ) / total_w
        found.append((score, cols["sup"][i]))
    found.sort(reverse=True)
    return len(found)


# --- load from PostgreSQL --------------------------------------------------------------------


async def db_load(data: dict[str, Any], rows: int) -> dict[str, Any]:
    """COPY `rows` profiles into a fresh database and time the index load the service does."""
    import asyncpg
    from sqlalchemy import text

    from umkm_shared.db import Database, async_url, create_database_if_missing, upgrade
    from umkm_supply_chain.app import MIGRATIONS
    from umkm_supply_chain.matching import IndexSync, SupplierIndex

    admin = os.environ["DATABASE_URL"]
    name = f"bench_matching_{uuid.uuid4().hex[:8]}"
    url = await create_database_if_missing(admin, name)
    await upgrade(url, MIGRATIONS)
    dsn = async_url(url).replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        ids = [uuid.UUID(int=i + 1) for i in range(rows)]
        now = datetime.now(UTC)
        lat, lon = data["lat"][:rows], data["lon"][:rows]
        sup_records = [
            (
                ids[i],
                str(data["names"][i]),
                "10794",
                "32.73.01.1001",
                "32",
                None if np.isnan(lat[i]) else float(lat[i]),
                None if np.isnan(lon[i]) else float(lon[i]),
                "mikro",
                "active",
                now,
                "[]",
                "[]",
                "[]",
                "[]",
                "[]",
                1,
                0,
                0,
                0,
                0,
                0,
                1,
            )
            for i in range(rows)
        ]
        t0 = time.perf_counter()
        await conn.copy_records_to_table(
            "suppliers",
            records=sup_records,
            columns=[
                "umkm_id",
                "business_name",
                "kbli_code",
                "village_code",
                "province_code",
                "latitude",
                "longitude",
                "scale",
                "status",
                "updated_at",
                "kbli_others",
                "registry_products",
                "registry_certifications",
                "extra_certifications",
                "sites",
                "registry_version",
                "cluster_seq",
                "orders_completed",
                "orders_on_time",
                "quantity_received",
                "quantity_accepted",
                "profile_version",
            ],
        )
        mask = data["p_supplier"] < rows
        p_sup = data["p_supplier"][mask]
        unit_names = np.array(UNITS)[data["p_unit"][mask]]
        prod_records = [
            (uuid.uuid4(), ids[int(s)], f"{int(k):05d}", str(nm), [], "{}", float(c), str(u), None)
            for s, k, nm, c, u in zip(
                p_sup,
                data["p_kbli"][mask],
                data["p_names"][mask],
                data["p_capacity"][mask],
                unit_names,
                strict=True,
            )
        ]
        await conn.copy_records_to_table(
            "supplier_products",
            records=prod_records,
            columns=[
                "id",
                "umkm_id",
                "kbli_code",
                "name",
                "keywords",
                "spec",
                "monthly_capacity",
                "unit",
                "lead_time_days",
            ],
        )
        copy_s = time.perf_counter() - t0
    finally:
        await conn.close()
    db = Database(url)
    try:
        index = SupplierIndex()
        t0 = time.perf_counter()
        loaded = await IndexSync(db, index).full_load()
        load_s = time.perf_counter() - t0
        # then the incremental path: 1% of the profiles change (e.g. a Dinas batch)
        changed = max(1, rows // 100)
        sync = IndexSync(db, index)
        async with db.transaction() as session:
            await session.execute(
                text("update suppliers set lead_time_days = 7 where umkm_id = any(:ids)"),
                {"ids": ids[:changed]},
            )
        t0 = time.perf_counter()
        synced = await sync.sync()
        sync_s = time.perf_counter() - t0
    finally:
        await db.dispose()
        conn = await asyncpg.connect(
            async_url(admin).replace("postgresql+asyncpg://", "postgresql://")
        )
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
    return {
        "profiles": loaded,
        "product_rows": int(mask.sum()),
        "copy_seconds": round(copy_s, 2),
        "index_load_seconds": round(load_s, 2),
        "profiles_per_second": round(loaded / load_s),
        "incremental_sync": {"changed_profiles": synced, "seconds": round(sync_s, 2)},
    }


# --- main ------------------------------------------------------------------------------------


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--suppliers", type=int, default=1_000_000)
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--db-rows", type=int, default=0, help="also time the load from PostgreSQL")
    p.add_argument(
        "--naive-sample", type=int, default=6, help="requests timed with a plain Python scan"
    )
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()

    import umkm_supply_chain.matching  # noqa: F401  (imports outside the timings)

    t0 = time.perf_counter()
    data = build_dataset(args.suppliers, args.seed)
    log(f"dataset ready in {time.perf_counter() - t0:.1f}s")
    t0 = time.perf_counter()
    index = build_index(data)
    build_s = time.perf_counter() - t0
    log(f"index built in {build_s:.1f}s: {len(index):,} profiles, {index.product_rows:,} rows")
    requests = make_requests(index, data, args.requests, args.seed)
    log(
        f"{len(requests)} requests: "
        + ", ".join(
            f"{k} {sum(1 for x, _ in requests if x == k)}" for k in ("single", "bundle", "keywords")
        )
    )
    run(index, requests[:10], scan=False)  # warm up
    indexed_ms, indexed_res = run(index, requests, scan=False)
    log(f"indexed: {percentiles(indexed_ms)}")
    scan_ms, scan_res = run(index, requests, scan=True)
    log(f"full scan: {percentiles(scan_ms)}")
    mismatches = sum(1 for a, b in zip(indexed_res, scan_res, strict=True) if a != b)
    naive: dict[str, Any] | None = None
    if args.naive_sample:
        cols = naive_columns(index)
        sample = [r for r in requests if r[0] != "keywords"][: args.naive_sample]
        naive_ms = []
        for _, q in sample:
            t = time.perf_counter()
            naive_match(index, cols, q)
            naive_ms.append((time.perf_counter() - t) * 1000)
        sample_idx = [requests.index(r) for r in sample]
        naive = {
            "requests": len(sample),
            "naive_python": percentiles(naive_ms),
            "indexed_same_requests": percentiles([indexed_ms[i] for i in sample_idx]),
        }
        log(f"naive Python scan on {len(sample)} requests: {naive['naive_python']}")
    by_kind = {}
    for kind in ("single", "bundle", "keywords"):
        sel = [i for i, (k, _) in enumerate(requests) if k == kind]
        if sel:
            by_kind[kind] = {
                "requests": len(sel),
                "indexed": percentiles([indexed_ms[i] for i in sel]),
                "scan": percentiles([scan_ms[i] for i in sel]),
            }
    bundle_res = [indexed_res[i] for i, (k, _) in enumerate(requests) if k == "bundle"]
    feasible = [r["feasible_count"] for r in indexed_res]
    result: dict[str, Any] = {
        "benchmark": "matching",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(numpy=np.__version__),
        "note": "machine.load_average_at_start tells how busy the machine was",
        "suppliers": len(index),
        "product_rows": index.product_rows,
        "index_build_seconds": round(build_s, 2),
        "requests": len(requests),
        "indexed": percentiles(indexed_ms),
        "scan_baseline": percentiles(scan_ms),
        "cpu_time": {
            "note": "CPU time of the matching thread (excludes waiting for a shared CPU)",
            "indexed": percentiles(CPU_MS[False]),
            "scan_baseline": percentiles(CPU_MS[True]),
        },
        "p99_ratio_scan_over_indexed": round(
            float(np.percentile(scan_ms, 99) / np.percentile(indexed_ms, 99)), 1
        ),
        "by_kind": by_kind,
        "naive_python_scan": naive,
        "answers_identical": mismatches == 0,
        "mismatches": mismatches,
        "feasible_candidates": {
            "median": int(np.median(feasible)),
            "max": int(np.max(feasible)),
        },
        "bundle_requests_with_covering_bundle": sum(
            1 for r in bundle_res if r["bundles"] and r["bundles"][0]["covers_quantity"]
        ),
        "bundle_members_median": float(
            np.median([r["bundles"][0]["member_count"] for r in bundle_res if r["bundles"]])
        )
        if bundle_res
        else None,
        "goal_p99_ms": GOAL_P99_MS,
        "goal_met": bool(np.percentile(indexed_ms, 99) <= GOAL_P99_MS),
    }
    if args.db_rows:
        if not os.environ.get("DATABASE_URL"):
            log("--db-rows needs DATABASE_URL; skipped")
        else:
            log(f"loading {args.db_rows:,} profiles through PostgreSQL")
            result["postgres_index_load"] = asyncio.run(db_load(data, args.db_rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
