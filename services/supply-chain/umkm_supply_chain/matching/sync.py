"""Keeps the in-memory index equal to the supplier tables.

Every write of a supplier row stamps its transaction id (`sync_txid`, a trigger). A sync first
takes the horizon (`pg_snapshot_xmin`: every transaction below it has finished), then applies
every committed row stamped at or after the cursor, and moves the cursor to the horizon. A
transaction still running at the horizon commits rows stamped at or above it, which the next
sync reads; so no change is skipped however transactions interleave. Rows between the horizon
and now are read again by the next sync (harmless, and bounded: a long transaction anywhere on
the server holds the horizon back, but never hides committed changes).
Every replica keeps its own index this way; a match calls `sync()` first (read your writes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import func, select, text

from umkm_shared.db import Database

from ..models import Cluster, Supplier, SupplierProduct
from .index import CertIn, ProductIn, SupplierIn, SupplierIndex

log = logging.getLogger(__name__)

_HORIZON = text("pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
BATCH = 20_000
FULL_RELOAD_AFTER = 50_000  # more changed profiles than this: reload everything column-wise


def _date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


def profile_in(s: Supplier, products: list[SupplierProduct]) -> SupplierIn:
    """The index's view of a supplier row: its first site with coordinates (else the
    registry's coordinates), registry and added certifications, declared products."""
    lat, lon = s.latitude, s.longitude
    for site in s.sites or []:
        if site.get("latitude") is not None and site.get("longitude") is not None:
            lat, lon = float(site["latitude"]), float(site["longitude"])
            break
    certs = [
        CertIn(kind=str(c.get("kind", "")), valid_until=_date(c.get("valid_until")))
        for c in [*(s.registry_certifications or []), *(s.extra_certifications or [])]
        if c.get("kind")
    ]
    return SupplierIn(
        umkm_id=s.umkm_id,
        business_name=s.business_name,
        latitude=lat,
        longitude=lon,
        active=s.status == "active",
        lead_time_days=s.lead_time_days,
        certifications=certs,
        products=[
            ProductIn(
                kbli_code=p.kbli_code,
                name=p.name,
                keywords=list(p.keywords or []),
                spec=dict(p.spec or {}),
                monthly_capacity=float(p.monthly_capacity) if p.monthly_capacity else None,
                unit=p.unit,
                lead_time_days=p.lead_time_days,
            )
            for p in products
        ],
        koperasi_id=s.koperasi_id,
        cluster_id=s.cluster_id,
        orders_completed=s.orders_completed,
        orders_on_time=s.orders_on_time,
        quantity_received=float(s.quantity_received or 0),
        quantity_accepted=float(s.quantity_accepted or 0),
    )


_LOAD_SUPPLIERS = """
select s.umkm_id, s.business_name,
       coalesce((s.sites -> 0 ->> 'latitude')::float8, s.latitude) as lat,
       coalesce((s.sites -> 0 ->> 'longitude')::float8, s.longitude) as lon,
       s.status = 'active' as active, coalesce(s.lead_time_days, -1) as lead,
       s.koperasi_id, s.cluster_id, s.orders_completed, s.orders_on_time,
       s.quantity_received::float8 as received, s.quantity_accepted::float8 as accepted
from suppliers s order by s.umkm_id
"""
_LOAD_CERTS = """
select s.umkm_id, lower(c ->> 'kind') as kind,
       max(coalesce((c ->> 'valid_until')::date - date '1970-01-01', 2147483647)) as until
from suppliers s,
     jsonb_array_elements(s.registry_certifications || s.extra_certifications) c
where c ->> 'kind' is not null
group by 1, 2
"""
_LOAD_PRODUCTS = """
select umkm_id, kbli_code::int as kbli, name, keywords, spec,
       coalesce(monthly_capacity, 0)::float8 as capacity, coalesce(unit, '') as unit,
       coalesce(lead_time_days, -1) as lead
from supplier_products where kbli_code ~ '^[0-9]+$'
"""


def _columns(sups: list[Any], certs: list[Any], prods: list[Any]) -> dict[str, Any]:
    """Query rows -> the column arrays `SupplierIndex.bulk_load` takes."""
    import json

    import numpy as np

    from ..domain import keyword_tokens

    n = len(sups)

    def as_uuid(value: Any) -> uuid.UUID:  # asyncpg's own UUID type -> the standard one
        return uuid.UUID(bytes=value.bytes)

    ids = [as_uuid(r["umkm_id"]) for r in sups]
    row_of = {r["umkm_id"]: i for i, r in enumerate(sups)}

    def col(name: str, dtype: Any, fill: Any = None) -> Any:
        return np.array([fill if r[name] is None else r[name] for r in sups], dtype=dtype)

    cert_until: dict[str, Any] = {}
    for r in certs:
        arr = cert_until.setdefault(r["kind"], np.zeros(n, dtype=np.int32))
        i = row_of.get(r["umkm_id"])
        if i is not None:
            arr[i] = max(int(arr[i]), int(r["until"]))
    kop_ids = sorted({as_uuid(r["koperasi_id"]) for r in sups if r["koperasi_id"] is not None})
    cl_ids = sorted({as_uuid(r["cluster_id"]) for r in sups if r["cluster_id"] is not None})
    kop_code = {k: i for i, k in enumerate(kop_ids)}
    cl_code = {k: i for i, k in enumerate(cl_ids)}
    vocab: dict[str, int] = {}
    t_rows: list[int] = []
    t_codes: list[int] = []
    for row, p in enumerate(prods):
        spec = p["spec"]
        if isinstance(spec, str):
            spec = json.loads(spec)
        words = keyword_tokens(
            p["name"], *(p["keywords"] or []), *(str(v) for v in (spec or {}).values())
        )
        for w in words:
            t_rows.append(row)
            t_codes.append(vocab.setdefault(w, len(vocab)))
    return {
        "ids": ids,
        "names": [r["business_name"] for r in sups],
        "lat": col("lat", np.float64, np.nan),
        "lon": col("lon", np.float64, np.nan),
        "lead": col("lead", np.int32),
        "cert_until": cert_until,
        "perf": (
            col("orders_completed", np.int32),
            col("orders_on_time", np.int32),
            col("received", np.float64),
            col("accepted", np.float64),
        ),
        "koperasi": np.array([kop_code.get(r["koperasi_id"], -1) for r in sups], dtype=np.int32),
        "cluster": np.array([cl_code.get(r["cluster_id"], -1) for r in sups], dtype=np.int32),
        "active": col("active", np.bool_),
        "p_supplier": np.array([row_of[p["umkm_id"]] for p in prods], dtype=np.int64),
        "p_kbli": np.array([p["kbli"] for p in prods], dtype=np.int32),
        "p_capacity": np.array([p["capacity"] for p in prods], dtype=np.float64),
        "p_unit": np.array([p["unit"] for p in prods], dtype=str),
        "p_lead": np.array([p["lead"] for p in prods], dtype=np.int32),
        "p_names": [p["name"] for p in prods],
        "token_rows": np.array(t_rows, dtype=np.int64),
        "token_values": list(vocab),
        "token_codes": np.array(t_codes, dtype=np.int64),
        "koperasi_ids": kop_ids,
        "cluster_ids": cl_ids,
    }


class IndexSync:
    """Loads the index at start, then polls for changes (a runtime background worker)."""

    def __init__(self, db: Database, index: SupplierIndex, interval: float = 1.0) -> None:
        self.db = db
        self.index = index
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        started = time.perf_counter()
        n = await self.full_load()
        log.info("supplier index loaded: %d profiles in %.1fs", n, time.perf_counter() - started)
        self._task = asyncio.create_task(self._run(), name="supply-chain:index-sync")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.sync()
            except Exception:  # a database hiccup: try again at the next tick
                log.exception("supplier index sync failed")

    async def full_load(self) -> int:
        """Load every profile column-wise (the service's start): a few set-based queries and
        one vectorised `bulk_load`, instead of row objects. Returns the profiles loaded."""
        async with self._lock:
            return await self._full_load()

    async def _full_load(self) -> int:
        async with self.db.session() as session:
            horizon = int((await session.execute(select(_HORIZON))).scalar_one())
            conn = await session.connection()
            raw: Any = (await conn.get_raw_connection()).driver_connection
            sups = await raw.fetch(_LOAD_SUPPLIERS)
            certs = await raw.fetch(_LOAD_CERTS)
            prods = await raw.fetch(_LOAD_PRODUCTS)
            clusters = await raw.fetch("select cluster_id, operator_anchor_id from clusters")
        columns = await asyncio.to_thread(_columns, sups, certs, prods)
        await asyncio.to_thread(lambda: self.index.bulk_load(**columns))
        for cluster_id, anchor_id in clusters:
            self.index.set_cluster_operator(
                uuid.UUID(bytes=cluster_id.bytes),
                uuid.UUID(bytes=anchor_id.bytes) if anchor_id else None,
            )
        self.index.sync_cursor = horizon
        return len(sups)

    async def sync(self) -> int:
        """Apply every change finished since the last sync; returns the profiles applied."""
        async with self._lock:
            cursor = self.index.sync_cursor
            applied = 0
            async with self.db.session() as session:
                pending = await session.scalar(
                    select(func.count()).select_from(
                        select(Supplier.umkm_id)
                        .where(Supplier.sync_txid >= cursor)
                        .limit(FULL_RELOAD_AFTER + 1)
                        .subquery()
                    )
                )
            if (pending or 0) > FULL_RELOAD_AFTER:  # a bulk change: reload column-wise
                return await self._full_load()
            async with self.db.session() as session:
                horizon = int((await session.execute(select(_HORIZON))).scalar_one())
                clusters = await session.execute(
                    select(Cluster.cluster_id, Cluster.operator_anchor_id).where(
                        Cluster.sync_txid >= cursor
                    )
                )
                for cluster_id, anchor_id in clusters.all():
                    self.index.set_cluster_operator(cluster_id, anchor_id)
                last: uuid.UUID | None = None
                while True:
                    stmt = (
                        select(Supplier)
                        .where(Supplier.sync_txid >= cursor)
                        .order_by(Supplier.umkm_id)
                        .limit(BATCH)
                    )
                    if last is not None:
                        stmt = stmt.where(Supplier.umkm_id > last)
                    rows = list((await session.execute(stmt)).scalars())
                    if not rows:
                        break
                    last = rows[-1].umkm_id
                    ids = [r.umkm_id for r in rows]
                    products: dict[uuid.UUID, list[SupplierProduct]] = defaultdict(list)
                    found = await session.execute(
                        select(SupplierProduct).where(SupplierProduct.umkm_id.in_(ids))
                    )
                    for p in found.scalars():
                        products[p.umkm_id].append(p)
                    profiles = [profile_in(r, products[r.umkm_id]) for r in rows]
                    await asyncio.to_thread(self.index.upsert, profiles)
                    applied += len(rows)
                    if len(rows) < BATCH:
                        break
            self.index.sync_cursor = horizon
            return applied
