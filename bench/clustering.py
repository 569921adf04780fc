"""Benchmark: cluster formation over 1M and 10M synthetic UMKM (65M measured or extrapolated),
with k-means-constrained as the quality and speed reference on samples, in the same run.

    uv run python bench/clustering.py                       # 1M + 10M + reference samples
    uv run python bench/clustering.py --sizes 1000000 --samples 1   # quicker
    uv run python scripts/devstack.py run --postgres -- uv run python bench/clustering.py --db
        (adds the database path at 1M: COPY load -> form -> set-based apply + outbox events)

Writes bench/results/clustering.json.

Points: `umkm_clustering.synthetic_points.generate_points` (vectorised numpy): kab/kota drawn by
2025 population, coordinates scattered around each kab/kota centre by its area, sectors in the
shares of the synthetic registry generator with a lognormal unevenness per province.

Each size runs in a fresh subprocess so its peak resident memory (ru_maxrss) is its own:
generate, form from scratch (timed: the formation core), the quality report, then 1% change
(0.5% new, 0.25% removed, 0.25% changed sector) and an incremental run (timed) with the share of
members that keep their cluster.

Reference: k-means-constrained (`KMeansConstrained`, same size bounds, n_init=1) on samples of
one sector in one province (~`--sample-size` points, km-projected coordinates), against our
formation on the same points: p95 and mean distance to the cluster centre and wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from benchlib import machine_info

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "clustering.json"
GOAL_SECONDS_10M = 120.0
GOAL_COMPACTNESS_RATIO = 1.3
GOAL_SPEEDUP = 50.0
MIN_SIZE, MAX_SIZE = 10_000, 20_000


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- one size, in its own process -------------------------------------------------------------


def one_size(n: int, seed: int) -> dict[str, Any]:
    from umkm_clustering.formation import ACTIVE, Params, Points, PreviousClusters, form
    from umkm_clustering.report import quality
    from umkm_clustering.synthetic_points import generate_points

    params = Params(MIN_SIZE, MAX_SIZE)
    t0 = time.perf_counter()
    sp = generate_points(n, seed=seed)
    gen_s = time.perf_counter() - t0
    join = np.full(len(sp.sectors), -1, dtype=np.int64)
    join[sp.sectors.index("mbg")] = sp.sectors.index("kuliner")
    pts = Points(sp.sector, sp.province, sp.regency, sp.lat, sp.lon)
    mem_before = peak_mb()
    t0 = time.perf_counter()
    first = form(pts, join, params, sector_names=sp.sectors)
    form_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    cl = first.clusters
    q = quality(
        first.label, sp.sector, np.array(cl.sector), sp.regency, sp.lat, sp.lon, MIN_SIZE, MAX_SIZE
    )
    report_s = time.perf_counter() - t0
    status = np.array(cl.status)
    sizes = np.bincount(first.label, minlength=len(cl))
    active = status == ACTIVE

    # 1% change, then an incremental run
    rng = np.random.default_rng(seed + 1)
    k = n // 100
    keep = np.ones(n, dtype=bool)
    keep[rng.choice(n, k // 4, replace=False)] = False
    sector = sp.sector.copy()
    changed = rng.choice(n, k // 4, replace=False)
    sector[changed] = rng.integers(0, len(sp.sectors), len(changed))
    prev = first.label.copy()
    prev[changed] = -1
    extra = generate_points(k // 2, seed=seed + 2)
    idx = np.flatnonzero(keep)
    undersized_first = len(first.undersized)
    del first
    second_pts = Points(
        np.concatenate([sector[idx], extra.sector]),
        np.concatenate([sp.province[idx], extra.province]),
        np.concatenate([sp.regency[idx], extra.regency]),
        np.concatenate([sp.lat[idx], extra.lat]),
        np.concatenate([sp.lon[idx], extra.lon]),
        np.concatenate([prev[idx], np.full(len(extra.sector), -1)]),
    )
    previous = PreviousClusters(
        np.array(cl.sector), list(cl.status), np.array(cl.province), list(cl.reason)
    )
    t0 = time.perf_counter()
    second = form(second_pts, join, params, previous, sp.sectors)
    incr_s = time.perf_counter() - t0
    old = prev[idx]
    kept = float((second.label[: len(idx)] == old).mean())
    s2 = np.bincount(second.label, minlength=len(second.clusters))
    st2 = np.array(second.clusters.status)
    return {
        "umkm": n,
        "generate_seconds": round(gen_s, 2),
        "formation_seconds": round(form_s, 2),
        "report_seconds": round(report_s, 2),
        "incremental_after_1pct_seconds": round(incr_s, 2),
        "kept_cluster_after_1pct": round(kept, 4),
        "peak_rss_mb": round(peak_mb(), 1),
        "rss_before_formation_mb": round(mem_before, 1),
        "clusters": int((status != "retired").sum()),
        "active_clusters": int(active.sum()),
        "forming_clusters": int((status == "forming").sum()),
        "active_size_min": int(sizes[active].min()),
        "active_size_max": int(sizes[active].max()),
        "incremental_active_size_min": int(s2[st2 == ACTIVE].min()),
        "incremental_active_size_max": int(s2[st2 == ACTIVE].max()),
        "undersized_groups_first_run": undersized_first,
        "undersized_groups_incremental": len(second.undersized),
        "quality": q,
    }


# --- reference: k-means-constrained on samples ------------------------------------------------


def centre_distances(label: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """km from each point to its cluster's centre (mean of the km-projected coordinates)."""
    s = np.bincount(label)
    cx = np.bincount(label, weights=x) / np.maximum(s, 1)
    cy = np.bincount(label, weights=y) / np.maximum(s, 1)
    return np.asarray(np.hypot(x - cx[label], y - cy[label]))


def reference(samples: int, sample_size: int, seed: int) -> list[dict[str, Any]]:
    from k_means_constrained import KMeansConstrained

    from umkm_clustering.formation import Params, Points, form, run_count
    from umkm_clustering.geo import project_km
    from umkm_clustering.synthetic_points import generate_points

    params = Params(MIN_SIZE, MAX_SIZE)
    sp = generate_points(3_000_000, seed=seed)
    # (sector, province) groups, the ones closest to the wanted size first
    key = sp.sector * 100 + sp.province
    groups, counts = np.unique(key, return_counts=True)
    order = np.argsort(np.abs(counts - sample_size))
    out = []
    for g in groups[order][:samples]:
        rows = np.flatnonzero(key == g)
        if len(rows) > sample_size * 1.5:  # keep the reference within minutes
            rows = np.sort(np.random.default_rng(seed).choice(rows, sample_size, replace=False))
        n = len(rows)
        x, y = project_km(sp.lat[rows], sp.lon[rows])
        pts = Points(
            sp.sector[rows], sp.province[rows], sp.regency[rows], sp.lat[rows], sp.lon[rows]
        )
        t0 = time.perf_counter()
        ours = form(pts, np.full(len(sp.sectors), -1, dtype=np.int64), params)
        ours_s = time.perf_counter() - t0
        k = run_count(n, params)
        t0 = time.perf_counter()
        km = KMeansConstrained(
            n_clusters=k,
            size_min=MIN_SIZE,
            size_max=MAX_SIZE,
            n_init=1,
            max_iter=50,
            random_state=seed,
        )
        km_label = km.fit_predict(np.column_stack((x, y)))
        km_s = time.perf_counter() - t0

        d_ours = centre_distances(ours.label, x, y)
        d_km = centre_distances(np.asarray(km_label, dtype=np.int64), x, y)
        out.append(
            {
                "sector": sp.sectors[int(g // 100)],
                "province": f"{int(g % 100):02d}",
                "points": n,
                "clusters": k,
                "ours_seconds": round(ours_s, 3),
                "kmc_seconds": round(km_s, 2),
                "speedup": round(km_s / max(ours_s, 1e-6), 1),
                "ours_p95_km": round(float(np.percentile(d_ours, 95)), 2),
                "kmc_p95_km": round(float(np.percentile(d_km, 95)), 2),
                "p95_ratio": round(float(np.percentile(d_ours, 95) / np.percentile(d_km, 95)), 3),
                "ours_mean_km": round(float(d_ours.mean()), 2),
                "kmc_mean_km": round(float(d_km.mean()), 2),
                "ours_sizes": sorted(np.bincount(ours.label).tolist()),
                "kmc_sizes": sorted(np.bincount(km_label).tolist()),
            }
        )
        print(json.dumps(out[-1]), flush=True)
    return out


# --- database path at 1M ----------------------------------------------------------------------


async def database_path(n: int, seed: int) -> dict[str, Any]:
    """COPY n synthetic rows into a fresh clustering database's read model, then run a formation
    run through FormationRunner (COPY load, form, staged apply, outbox events), twice."""
    import uuid

    import asyncpg
    from sqlalchemy import text

    from umkm_clustering.app import MIGRATIONS
    from umkm_clustering.config import Settings
    from umkm_clustering.jobs import FormationRunner, queue_run
    from umkm_clustering.models import messaging_tables
    from umkm_clustering.synthetic_points import generate_points, regencies
    from umkm_shared.db import Database, upgrade
    from umkm_shared.messaging.outbox import Outbox

    admin = os.environ.get("DATABASE_URL")
    if not admin:
        raise SystemExit("--db needs DATABASE_URL (run under scripts/devstack.py run --postgres)")
    admin = admin.replace("postgresql+asyncpg://", "postgresql://")
    name = f"bench_clustering_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    base = admin.rsplit("/", 1)[0]
    url = f"{base}/{name}"
    try:
        await upgrade(url.replace("postgresql://", "postgresql+asyncpg://"), MIGRATIONS)
        sp = generate_points(n, seed=seed)
        table = regencies()
        kbli = {
            "kuliner": "56102",
            "perdagangan": "47112",
            "pertanian": "01131",
            "fesyen": "14111",
            "pariwisata": "55130",
            "otomotif": "45407",
            "jasa_lainnya": "96200",
            "kelautan_perikanan": "03111",
            "kesehatan_kecantikan": "47723",
            "perumahan": "41011",
            "kerajinan": "31001",
            "transportasi": "49424",
            "mbg": "56290",
            "olahraga": "93114",
            "pertambangan_energi": "08101",
        }
        now = datetime.now(UTC)
        ids = sorted(uuid.uuid4() for _ in range(n))
        records = []
        for i in range(n):
            reg = table.codes[int(sp.regency_row[i])]
            records.append(
                (
                    ids[i],
                    1,
                    kbli[sp.sectors[int(sp.sector[i])]],
                    reg[:2],
                    reg,
                    reg + ".01",
                    reg + ".01.2001",
                    float(sp.lat[i]),
                    float(sp.lon[i]),
                    float(sp.lat[i]),
                    float(sp.lon[i]),
                    "reported",
                    "mikro",
                    "active",
                    "USAHA",
                    now,
                )
            )
        conn = await asyncpg.connect(url)
        t0 = time.perf_counter()
        await conn.copy_records_to_table(
            "umkm",
            records=records,
            columns=[
                "id",
                "version",
                "kbli_code",
                "province_code",
                "regency_code",
                "district_code",
                "village_code",
                "latitude",
                "longitude",
                "lat",
                "lon",
                "location_source",
                "scale",
                "status",
                "business_name",
                "updated_at",
            ],
        )
        copy_s = time.perf_counter() - t0
        await conn.close()
        del records
        settings = Settings(database_url=url, environment="test", log_json=False)
        db = Database(settings.database_url)
        runner = FormationRunner(db, Outbox(messaging_tables, source="/clustering"), settings)
        out: dict[str, Any] = {"umkm": n, "copy_into_read_model_seconds": round(copy_s, 2)}
        for label in ("first_run", "rerun_no_change"):
            async with db.transaction() as s:
                run_id = await queue_run(s, settings, "bench", "incremental")
            t0 = time.perf_counter()
            await runner.execute(run_id)
            total = time.perf_counter() - t0
            async with db.transaction() as s:
                row = (
                    await s.execute(
                        text("SELECT status, error, summary FROM formation_runs WHERE id = :id"),
                        {"id": run_id},
                    )
                ).one()
                events = (await s.execute(text("SELECT count(*) FROM outbox"))).scalar_one()
            out[label] = {
                "seconds": round(total, 2),
                "status": row.status,
                "error": row.error,
                "summary": row.summary,
                "outbox_events_total": events,
            }
            print(label, json.dumps(out[label]), flush=True)
        await db.dispose()
        return out
    finally:
        conn = await asyncpg.connect(admin)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


# --- driver -----------------------------------------------------------------------------------


def run_child(args: list[str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        return {"error": proc.stderr[-3000:]}
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--samples", type=int, default=3)
    ap.add_argument("--sample-size", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--db", action="store_true", help="also measure the database path at 1M")
    ap.add_argument("--db-size", type=int, default=1_000_000)
    ap.add_argument("--try-65m", action="store_true", help="run 65M if it is predicted to fit")
    ap.add_argument("--child-size", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_size:
        print(json.dumps(one_size(args.child_size, args.seed)))
        return

    result: dict[str, Any] = {
        "benchmark": "cluster formation (Hilbert runs + incremental) vs k-means-constrained",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "bounds": {"min": MIN_SIZE, "max": MAX_SIZE},
    }
    sizes = [int(s) for s in args.sizes.split(",") if s]
    runs = []
    for n in sizes:
        print(f"formation at {n:,} ...", flush=True)
        r = run_child(["--child-size", str(n), "--seed", str(args.seed)])
        print(json.dumps({k: v for k, v in r.items() if k != "quality"}), flush=True)
        runs.append(r)
    result["sizes"] = runs
    ok = [r for r in runs if "error" not in r]
    if len(ok) >= 2:
        a, b = ok[-2], ok[-1]
        t_per = b["formation_seconds"] / b["umkm"]
        m_per = (b["peak_rss_mb"] - a["peak_rss_mb"]) / (b["umkm"] - a["umkm"])
        base = b["peak_rss_mb"] - m_per * b["umkm"]
        n65 = 65_000_000
        predicted = {
            "umkm": n65,
            "formation_seconds_linear_from_largest": round(t_per * n65, 1),
            "scaling_exponent_time": round(
                float(
                    np.log(b["formation_seconds"] / a["formation_seconds"])
                    / np.log(b["umkm"] / a["umkm"])
                ),
                3,
            ),
            "peak_rss_mb_linear": round(base + m_per * n65, 0),
            "memory_bytes_per_umkm": round(m_per * 1024 * 1024, 1),
        }
        result["extrapolated_65m"] = predicted
        if args.try_65m and predicted["peak_rss_mb_linear"] < 14_000:
            print("formation at 65,000,000 ...", flush=True)
            result["measured_65m"] = run_child(["--child-size", str(n65), "--seed", str(args.seed)])
    if args.samples:
        print("k-means-constrained reference ...", flush=True)
        refs = reference(args.samples, args.sample_size, args.seed)
        result["reference_kmeans_constrained"] = refs
        result["reference_summary"] = {
            "worst_p95_ratio": max(r["p95_ratio"] for r in refs),
            "mean_p95_ratio": round(float(np.mean([r["p95_ratio"] for r in refs])), 3),
            "min_speedup": min(r["speedup"] for r in refs),
        }
    if args.db:
        result["database_path"] = asyncio.run(database_path(args.db_size, args.seed))
    ten = next((r for r in ok if r["umkm"] == 10_000_000), None)
    result["goals"] = {
        "formation_10m_seconds_max": GOAL_SECONDS_10M,
        "formation_10m_seconds": ten["formation_seconds"] if ten else None,
        "formation_10m_ok": bool(ten and ten["formation_seconds"] <= GOAL_SECONDS_10M),
        "p95_ratio_max": GOAL_COMPACTNESS_RATIO,
        "p95_ratio_ok": bool(args.samples)
        and result["reference_summary"]["worst_p95_ratio"] <= GOAL_COMPACTNESS_RATIO,
        "speedup_min": GOAL_SPEEDUP,
        "speedup_ok": bool(args.samples)
        and result["reference_summary"]["min_speedup"] >= GOAL_SPEEDUP,
        "kept_after_1pct_min": 0.95,
        "kept_after_1pct_ok": all(r["kept_cluster_after_1pct"] >= 0.95 for r in ok),
    }
    text = json.dumps(result, indent=2)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
