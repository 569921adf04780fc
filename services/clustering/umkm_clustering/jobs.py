"""Formation runs as a job: queued by the ministry (or the schedule), run by one worker at a
time across replicas (session advisory lock), phases with progress, applied in ONE transaction
(a crash leaves the previous assignment intact; the interrupted run is re-queued and simply
runs again).

Load: COPY of the read model joined with current memberships into polars/numpy. Compute:
`formation.form` in a thread. Apply: the changed memberships go through a COPY into a staging
table and one INSERT ... ON CONFLICT; cluster rows are upserted; events go through the outbox's
bulk COPY path in the same transaction; only changes produce membership events.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from umkm_shared.db import Database
from umkm_shared.events.base import EventPayload
from umkm_shared.events.clustering import (
    MAX_MEMBERS_PER_EVENT,
    ClusterFormed,
    ClusterMerged,
    ClusterSplit,
    ClusterUpdated,
    FormationRunCompleted,
)
from umkm_shared.ids import new_id
from umkm_shared.messaging.outbox import Outbox

from .clusters import (
    APPLY_LOCK,
    CLUSTER_COLUMNS,
    RUN_LOCK,
    assigned_events,
    chunks,
    cluster_code,
    cluster_name,
    code_prefix,
    code_seq,
    current_taxonomy,
    removed_events,
    snapshot,
    take_seqs,
)
from .config import Settings
from .formation import ACTIVE, FORMING, RETIRED, Params, Points, PreviousClusters, Result, form
from .metrics import FORMATION_PROGRESS, FORMATION_RUNS
from .report import quality
from .taxonomy import Taxonomy

log = logging.getLogger(__name__)

_LOAD = """
    SELECT u.id, u.kbli_code, u.province_code, u.regency_code, u.lat, u.lon,
        m.cluster_id, m.sector_code, m.province_code AS member_province
    FROM umkm u LEFT JOIN cluster_members m ON m.umkm_id = u.id
    WHERE u.status = 'active' ORDER BY u.id
"""
_SCHEMA = {
    "id": pl.Utf8,
    "kbli_code": pl.Utf8,
    "province_code": pl.Utf8,
    "regency_code": pl.Utf8,
    "lat": pl.Float64,
    "lon": pl.Float64,
    "cluster_id": pl.Utf8,
    "sector_code": pl.Utf8,
    "member_province": pl.Utf8,
}


async def copy_out(session: AsyncSession, query: str) -> bytes:
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    buf = io.BytesIO()
    await raw.driver_connection.copy_from_query(  # type: ignore[union-attr]
        query, output=buf, format="csv", header=True
    )
    return buf.getvalue()


async def copy_in(
    session: AsyncSession, table: str, columns: Sequence[str], records: list[tuple[Any, ...]]
) -> None:
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
        table, records=records, columns=list(columns)
    )


class FormationRunner:
    """Executes one queued run (used by the worker and, directly, by tests)."""

    def __init__(self, db: Database, outbox: Outbox, settings: Settings) -> None:
        self.db = db
        self.outbox = outbox
        self.settings = settings
        self._taxonomy: dict[int, Taxonomy] = {}

    async def _progress(self, run_id: uuid.UUID, phase: str, progress: float) -> None:
        FORMATION_PROGRESS.set(progress)
        async with self.db.transaction() as s:
            await s.execute(
                text("UPDATE formation_runs SET phase = :p, progress = :g WHERE id = :id"),
                {"p": phase, "g": progress, "id": run_id},
            )

    async def execute(self, run_id: uuid.UUID) -> None:
        try:
            await self._execute(run_id)
            FORMATION_PROGRESS.set(1)
            FORMATION_RUNS.labels("succeeded").inc()
        except Exception as exc:
            FORMATION_RUNS.labels("failed").inc()
            log.exception("formation run %s failed", run_id)
            async with self.db.transaction() as s:
                await s.execute(
                    text(
                        "UPDATE formation_runs SET status = 'failed', error = :e, "
                        "finished_at = now() WHERE id = :id"
                    ),
                    {"e": f"{type(exc).__name__}: {exc}"[:2000], "id": run_id},
                )

    async def _execute(self, run_id: uuid.UUID) -> None:
        async with self.db.transaction() as s:
            run = (
                await s.execute(
                    text("SELECT mode, params FROM formation_runs WHERE id = :id"), {"id": run_id}
                )
            ).one()
            await s.execute(
                text(
                    "UPDATE formation_runs SET status = 'running', phase = 'loading', "
                    "progress = 0.05, started_at = now(), error = NULL WHERE id = :id"
                ),
                {"id": run_id},
            )
        params = Params(run.params["min_size"], run.params["max_size"], run.params.get("target"))
        rebuild = run.mode == "rebuild"
        # --- load ---
        async with self.db.transaction() as s:
            await s.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
            taxonomy = await current_taxonomy(s, self._taxonomy)
            data = await copy_out(s, _LOAD)
            prev_rows = (
                await s.execute(
                    text(
                        f"SELECT {CLUSTER_COLUMNS} FROM clusters WHERE status <> 'retired' "
                        "ORDER BY code"
                    )
                )
            ).mappings()
            previous = [dict(r) for r in prev_rows]
            all_codes = [r[0] for r in await s.execute(text("SELECT code FROM clusters"))]
            stale = (
                await s.execute(
                    text(
                        "SELECT m.umkm_id, m.cluster_id FROM cluster_members m "
                        "LEFT JOIN umkm u ON u.id = m.umkm_id "
                        "WHERE u.status IS DISTINCT FROM 'active' ORDER BY m.umkm_id"
                    )
                )
            ).all()
        frame = (
            pl.read_csv(io.BytesIO(data), schema=_SCHEMA) if data else pl.DataFrame(schema=_SCHEMA)
        )
        await self._progress(run_id, "computing", 0.3)
        # --- compute ---
        plan = await asyncio.to_thread(plan_run, frame, taxonomy, previous, params, rebuild)
        await self._progress(run_id, "applying", 0.6)
        # --- apply (one transaction) ---
        async with self.db.transaction() as s:
            await s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": APPLY_LOCK})
            summary = await self._apply(s, run_id, plan, taxonomy, all_codes, stale, params)
            report = build_report(plan, summary, params, taxonomy)
            await s.execute(
                text(
                    "UPDATE formation_runs SET status = 'succeeded', phase = 'done', "
                    "progress = 1, finished_at = now(), taxonomy_version = :tv, "
                    "summary = CAST(:sm AS jsonb), report = CAST(:rp AS jsonb) WHERE id = :id"
                ),
                {
                    "tv": taxonomy.version,
                    "sm": _json(summary),
                    "rp": _json(report),
                    "id": run_id,
                },
            )

    async def _apply(
        self,
        s: AsyncSession,
        run_id: uuid.UUID,
        plan: Plan,
        taxonomy: Taxonomy,
        all_codes: list[str],
        stale: Sequence[Any],
        params: Params,
    ) -> dict[str, Any]:
        r = plan.result
        cl = r.clusters
        now = datetime.now(UTC)
        # ids and codes for new clusters (codes continue each sector/province's numbering)
        next_seq: dict[str, int] = {}
        for code in all_codes:
            prefix = code.rsplit("-", 1)[0]
            next_seq[prefix] = max(next_seq.get(prefix, 0), code_seq(code))
        ids: list[uuid.UUID] = []
        codes: list[str] = []
        names: list[str] = []
        for i in range(len(cl)):
            if i < r.previous_count:
                prev = plan.previous[i]
                ids.append(prev["id"])
                codes.append(prev["code"])
                names.append(prev["name"])
                continue
            sector = plan.sectors[cl.sector[i]]
            prov = f"{cl.province[i]:02d}"
            prefix = code_prefix(sector, prov)
            seq = next_seq.get(prefix, 0) + 1
            next_seq[prefix] = seq
            ids.append(new_id())
            codes.append(cluster_code(sector, prov, seq))
            names.append(cluster_name(taxonomy, sector, prov, seq))
        stats = plan.stats
        events: list[EventPayload] = []
        rows: dict[int, dict[str, Any]] = {}
        changed_fields: dict[int, list[str]] = {}
        for i in range(len(cl)):
            st = stats[i]
            row = {
                "id": ids[i],
                "code": codes[i],
                "sector_code": plan.sectors[cl.sector[i]],
                "name": names[i],
                "province_code": st["province"] or f"{cl.province[i]:02d}",
                "province_codes": st["provinces"],
                "regency_codes": st["regencies"],
                "joined_sectors": sorted(plan.sectors[j] for j in cl.joined_sectors[i]),
                "status": cl.status[i],
                "status_reason": cl.reason[i],
                "member_count": st["n"],
                "centre_lat": st["lat"],
                "centre_lon": st["lon"],
                "min_lat": st["min_lat"],
                "max_lat": st["max_lat"],
                "min_lon": st["min_lon"],
                "max_lon": st["max_lon"],
                "run_id": run_id,
                "updated_at": now,
            }
            if i < r.previous_count:
                prev = plan.previous[i]
                keep = ("operator_anchor_id", "operator_umkm_id", "operator_status", "version")
                row |= {k: prev[k] for k in keep}
                if cl.status[i] == RETIRED:
                    row["member_count"] = 0
                    row["province_code"] = prev["province_code"]
                    row["province_codes"] = prev["province_codes"]
                    row["regency_codes"] = prev["regency_codes"]
                    for k in (
                        "centre_lat",
                        "centre_lon",
                        "min_lat",
                        "max_lat",
                        "min_lon",
                        "max_lon",
                    ):
                        row[k] = prev[k]
                diff = [
                    k
                    for k in (
                        "status",
                        "status_reason",
                        "member_count",
                        "regency_codes",
                        "province_code",
                        "joined_sectors",
                    )
                    if _differs(row[k], prev[k])
                ] + (
                    ["centre"]
                    if _moved(row["centre_lat"], prev["centre_lat"])
                    or _moved(row["centre_lon"], prev["centre_lon"])
                    else []
                )
                if not diff:
                    continue
                row["version"] = int(prev["version"]) + 1
                row["run_id"] = prev["run_id"] if not diff else run_id
                changed_fields[i] = diff
            else:
                row |= {
                    "operator_anchor_id": None,
                    "operator_umkm_id": None,
                    "operator_status": "none",
                    "version": 1,
                }
            row["retired_at"] = now if cl.status[i] == RETIRED else None
            rows[i] = row
        if rows:
            await s.execute(
                text(
                    """
                    INSERT INTO clusters (id, code, sector_code, name, province_code,
                        province_codes, regency_codes, joined_sectors, status, status_reason,
                        member_count, centre_lat, centre_lon, min_lat, max_lat, min_lon, max_lon,
                        operator_anchor_id, operator_umkm_id, operator_status, version, run_id,
                        updated_at, retired_at)
                    VALUES (:id, :code, :sector_code, :name, :province_code, :province_codes,
                        :regency_codes, :joined_sectors, :status, :status_reason, :member_count,
                        :centre_lat, :centre_lon, :min_lat, :max_lat, :min_lon, :max_lon,
                        :operator_anchor_id, :operator_umkm_id, :operator_status, :version,
                        :run_id, :updated_at, :retired_at)
                    ON CONFLICT (id) DO UPDATE SET province_code = excluded.province_code,
                        province_codes = excluded.province_codes,
                        regency_codes = excluded.regency_codes,
                        joined_sectors = excluded.joined_sectors, status = excluded.status,
                        status_reason = excluded.status_reason,
                        member_count = excluded.member_count, centre_lat = excluded.centre_lat,
                        centre_lon = excluded.centre_lon, min_lat = excluded.min_lat,
                        max_lat = excluded.max_lat, min_lon = excluded.min_lon,
                        max_lon = excluded.max_lon, version = excluded.version,
                        run_id = excluded.run_id, updated_at = excluded.updated_at,
                        retired_at = excluded.retired_at
                    """
                ),
                list(rows.values()),
            )
        # cluster events: formed, split, merged, updated
        split_into: dict[int, list[uuid.UUID]] = {}
        for i in range(r.previous_count, len(cl)):
            if cl.split_from[i] >= 0:
                split_into.setdefault(cl.split_from[i], []).append(ids[i])
        for i, row in rows.items():
            snap = snapshot(row)
            if i >= r.previous_count:
                if cl.status[i] == RETIRED:
                    continue  # a cluster born and split in the same run: its parts are formed
                events.append(ClusterFormed(cluster=snap, run_id=run_id))
            elif i in split_into:
                events.append(ClusterSplit(cluster=snap, into_cluster_ids=split_into[i]))
            elif cl.merged_into[i] >= 0:
                events.append(ClusterMerged(cluster=snap, into_cluster_id=ids[cl.merged_into[i]]))
            else:
                events.append(ClusterUpdated(cluster=snap, changed_fields=changed_fields[i]))
        # memberships: only changes
        id_strs = np.array([str(i) for i in ids], dtype=object)
        new_cluster = id_strs[r.label] if len(r.label) else np.array([], dtype=object)
        changed: np.ndarray = (
            np.flatnonzero(plan.old_cluster != new_cluster) if len(r.label) else np.zeros(0, int)
        )
        batches: list[tuple[uuid.UUID, str, uuid.UUID | None, str, list[Any]]] = []
        batch_rows: list[np.ndarray] = []
        if len(changed):
            to_idx = r.label[changed]
            old = plan.old_cluster[changed]
            old_s = np.array(["" if o is None else o for o in old], dtype=object)
            reasons = plan.reasons(changed)
            order = np.lexsort((changed, reasons.astype(str), old_s.astype(str), to_idx))
            changed, to_idx, old_s, reasons = (
                changed[order],
                to_idx[order],
                old_s[order],
                reasons[order],
            )
            cut = (
                np.flatnonzero(
                    (to_idx[1:] != to_idx[:-1])
                    | (old_s[1:] != old_s[:-1])
                    | (reasons[1:] != reasons[:-1])
                )
                + 1
            )
            bounds = np.concatenate(([0], cut, [len(changed)]))
            for a, b in itertools.pairwise(bounds):
                c = int(to_idx[a])
                src = uuid.UUID(old_s[a]) if old_s[a] else None
                for b0 in range(int(a), int(b), MAX_MEMBERS_PER_EVENT):
                    part_rows = changed[b0 : min(int(b), b0 + MAX_MEMBERS_PER_EVENT)]
                    batch_rows.append(part_rows)
                    batches.append(
                        (
                            ids[c],
                            plan.sectors[cl.sector[c]],
                            src,
                            str(reasons[a]),
                            plan.ids_arr[part_rows].tolist(),
                        )
                    )
        removed: list[tuple[uuid.UUID, str, list[Any]]] = []
        by_cluster: dict[uuid.UUID, list[uuid.UUID]] = {}
        for umkm_id, cluster_id in stale:
            by_cluster.setdefault(cluster_id, []).append(umkm_id)
        for cid in sorted(by_cluster):
            removed.extend((cid, "inactive", part) for part in chunks(by_cluster[cid]))
        first = await take_seqs(s, len(batches) + len(removed))
        if batches:
            rows_all = np.concatenate(batch_rows)
            seq_of = np.repeat(
                np.arange(first, first + len(batches)), [len(b) for b in batch_rows]
            ).tolist()
            member_records = list(
                zip(
                    plan.ids_arr[rows_all].tolist(),
                    id_strs[r.label[rows_all]].tolist(),
                    plan.own_code[rows_all].tolist(),
                    plan.province_arr[rows_all].tolist(),
                    seq_of,
                    strict=True,
                )
            )
            await s.execute(
                text(
                    "CREATE TEMP TABLE stage_members (umkm_id uuid, cluster_id uuid, "
                    "sector_code text, province_code text, assignment_seq bigint) ON COMMIT DROP"
                )
            )
            await copy_in(
                s,
                "stage_members",
                ("umkm_id", "cluster_id", "sector_code", "province_code", "assignment_seq"),
                member_records,
            )
            del member_records
            await s.execute(
                text(
                    """
                    INSERT INTO cluster_members (umkm_id, cluster_id, sector_code, province_code,
                        assignment_seq)
                    SELECT umkm_id, cluster_id, sector_code, province_code, assignment_seq
                    FROM stage_members
                    ON CONFLICT (umkm_id) DO UPDATE SET cluster_id = excluded.cluster_id,
                        sector_code = excluded.sector_code,
                        province_code = excluded.province_code,
                        assignment_seq = excluded.assignment_seq, assigned_at = now()
                    """
                )
            )
        # members whose sector/province changed but cluster did not: refresh the stored facts
        stale_facts = plan.facts_stale.copy()
        if len(changed):
            stale_facts[changed] = False
        refresh = np.flatnonzero(stale_facts)
        if len(refresh):
            await s.execute(
                text(
                    "UPDATE cluster_members m SET sector_code = x.s, province_code = x.p FROM "
                    "(SELECT unnest(CAST(:ids AS uuid[])) AS id, unnest(CAST(:ss AS text[])) AS s,"
                    " unnest(CAST(:ps AS text[])) AS p) x WHERE m.umkm_id = x.id"
                ),
                {
                    "ids": plan.ids_arr[refresh].tolist(),
                    "ss": plan.own_code[refresh].tolist(),
                    "ps": plan.province_arr[refresh].tolist(),
                },
            )
        if removed:
            await s.execute(
                text("DELETE FROM cluster_members WHERE umkm_id = ANY(:ids)"),
                {"ids": [u for u, _ in stale]},
            )
        events.extend(assigned_events(batches, first, run_id))
        events.extend(removed_events(removed, first + len(batches)))
        moved = sum(len(b[4]) for b in batches if b[2] is not None)
        new_members = sum(len(b[4]) for b in batches if b[2] is None)
        active = [i for i in range(len(cl)) if cl.status[i] != RETIRED]
        summary = {
            "clusters": len(active),
            "members": len(r.label),
            "kept": int(len(r.label) - len(changed)),
            "moved": moved,
            "new_members": new_members,
            "removed": len(stale),
            "formed": sum(1 for i in rows if i >= r.previous_count and cl.status[i] != RETIRED),
            "split": len(split_into),
            "merged": sum(1 for i in range(r.previous_count) if cl.merged_into[i] >= 0),
            "membership_events": len(batches) + len(removed),
            "undersized_group_count": len(r.undersized),
        }
        events.append(
            FormationRunCompleted(
                run_id=run_id,
                clusters=len(active),
                members=len(r.label),
                moved=moved,
                undersized_groups=len(r.undersized),
                completed_at=datetime.now(UTC),
            )
        )
        await self.outbox.enqueue_many(s, events)
        plan.codes = codes
        return summary


def _differs(a: Any, b: Any) -> bool:
    if isinstance(a, list | tuple) or isinstance(b, list | tuple):
        return list(a or []) != list(b or [])
    return bool(a != b)


def _moved(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is not b
    return abs(a - b) > 1e-7


def _json(value: Any) -> str:
    import orjson

    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()


class Plan:
    """What a run computed, with the arrays the apply and the report need."""

    def __init__(
        self,
        frame: pl.DataFrame,
        sectors: list[str],
        own_sector: np.ndarray,
        points: Points,
        previous: list[dict[str, Any]],
        result: Result,
        rebuild: bool,
    ) -> None:
        self.sectors = sectors
        self.own_sector = own_sector
        self.points = points
        self.previous = previous
        self.result = result
        self.rebuild = rebuild
        # ids stay strings (asyncpg and pydantic take them as UUIDs); arrays for vector work
        self.ids_arr = np.array(frame["id"].to_list(), dtype=object)
        self.old_cluster = np.array(frame["cluster_id"].to_list(), dtype=object)
        self.province_arr = np.array(frame["province_code"].to_list(), dtype=object)
        self.own_code = np.array(sectors, dtype=object)[own_sector]
        self.provinces = self.province_arr
        self.regencies = frame["regency_code"].to_list()
        self.lat = points.lat
        self.lon = points.lon
        self.first_run = not previous
        member_sector = np.array(frame["sector_code"].to_list(), dtype=object)
        member_prov = np.array(frame["member_province"].to_list(), dtype=object)
        has_old = np.array([c is not None for c in self.old_cluster], dtype=bool)
        self.facts_stale = has_old & (
            (member_sector != self.own_code) | (member_prov != self.province_arr)
        )
        cl = result.clusters
        n_prev = min(len(previous), result.previous_count)
        self._merged = {str(previous[i]["id"]) for i in range(n_prev) if cl.merged_into[i] >= 0}
        self._retired = {str(previous[i]["id"]) for i in range(n_prev) if cl.status[i] == RETIRED}
        self.codes: list[str] = []
        self.stats = self._stats()

    def reasons(self, rows: np.ndarray) -> np.ndarray:
        """Why each of these rows changed cluster (AssignmentReason)."""
        old = self.old_cluster[rows]
        out = np.full(len(rows), "rebalance", dtype=object)
        prev = self.points.prev
        if prev is not None:
            out[prev[rows] < 0] = "changed"
        retired = np.array([o in self._retired for o in old], dtype=bool)
        merged = np.array([o in self._merged for o in old], dtype=bool)
        out[retired] = "split"
        out[merged] = "merge"
        if self.rebuild:
            out[:] = "rebalance"
        none = np.array([o is None for o in old], dtype=bool)
        out[none] = "formation" if self.first_run or self.rebuild else "new_umkm"
        return out

    def _stats(self) -> list[dict[str, Any]]:
        r = self.result
        count = len(r.clusters)
        label = r.label
        out: list[dict[str, Any]] = [
            {
                "n": 0,
                "lat": None,
                "lon": None,
                "min_lat": None,
                "max_lat": None,
                "min_lon": None,
                "max_lon": None,
                "provinces": [],
                "regencies": [],
                "province": None,
            }
            for _ in range(count)
        ]
        if len(label) == 0:
            return out
        frame = pl.DataFrame(
            {
                "c": label,
                "lat": self.lat,
                "lon": self.lon,
                "p": self.provinces,
                "r": self.regencies,
            }
        )
        agg = frame.group_by("c").agg(
            pl.len().alias("n"),
            pl.col("lat").mean().alias("lat"),
            pl.col("lon").mean().alias("lon"),
            pl.col("lat").min().alias("min_lat"),
            pl.col("lat").max().alias("max_lat"),
            pl.col("lon").min().alias("min_lon"),
            pl.col("lon").max().alias("max_lon"),
            pl.col("p").unique().sort().alias("provinces"),
            pl.col("r").unique().sort().alias("regencies"),
            pl.col("p").mode().sort().first().alias("province"),
        )
        for row in agg.iter_rows(named=True):
            c = int(row.pop("c"))
            out[c] = row
        return out


def plan_run(
    frame: pl.DataFrame,
    taxonomy: Taxonomy,
    previous: list[dict[str, Any]],
    params: Params,
    rebuild: bool,
) -> Plan:
    """The pure part of a run: sector mapping, arrays, `form`."""
    unique = frame["kbli_code"].unique().sort().to_list()
    sector_of = {k: taxonomy.sector_of(k) for k in unique}
    sectors = [s.code for s in taxonomy.sectors]
    extra = sorted({s for s in sector_of.values() if s not in sectors})
    extra += sorted({p["sector_code"] for p in previous if p["sector_code"] not in sectors + extra})
    sectors += extra
    sector_idx = {s: i for i, s in enumerate(sectors)}
    join_with = np.array(
        [sector_idx.get(taxonomy.join_with(s) or "", -1) for s in sectors], dtype=np.int64
    )
    code_idx = {k: sector_idx[v] for k, v in sector_of.items()}
    own = (
        frame["kbli_code"].replace_strict(code_idx, return_dtype=pl.Int64).to_numpy()
        if len(frame)
        else np.zeros(0, dtype=np.int64)
    ).astype(np.int64)
    provinces = frame["province_code"].cast(pl.Int64).to_numpy().astype(np.int64)
    regencies = (
        frame["regency_code"].str.replace_all(".", "", literal=True).cast(pl.Int64).to_numpy()
    ).astype(np.int64)
    prev_list = [] if rebuild else previous
    cluster_index = {str(p["id"]): i for i, p in enumerate(prev_list)}
    own_code = pl.Series(np.array(sectors, dtype=object)[own].tolist(), dtype=pl.Utf8)
    prev_idx = (
        frame["cluster_id"]
        .replace_strict(cluster_index, default=-1, return_dtype=pl.Int64)
        .fill_null(-1)
        .to_numpy()
        .astype(np.int64)
    )
    same = (
        ((frame["sector_code"] == own_code) & (frame["member_province"] == frame["province_code"]))
        .fill_null(False)
        .to_numpy()
    )
    prev = np.where(same, prev_idx, -1).astype(np.int64)
    points = Points(
        own,
        provinces,
        regencies,
        frame["lat"].to_numpy().astype(np.float64),
        frame["lon"].to_numpy().astype(np.float64),
        prev,
    )
    previous_clusters = None
    if prev_list:
        previous_clusters = PreviousClusters(
            np.array([sector_idx[p["sector_code"]] for p in prev_list], dtype=np.int64),
            [p["status"] for p in prev_list],
            np.array([int(p["province_code"]) for p in prev_list], dtype=np.int64),
            [p["status_reason"] for p in prev_list],
        )
    result = form(points, join_with, params, previous_clusters, sectors)
    if rebuild and previous:
        # a rebuild retires every previous cluster: they are appended as retired so the apply
        # publishes their status, and members all move to the new clusters
        result = _with_retired(result, previous, sector_idx)
    return Plan(frame, sectors, own, points, previous, result, rebuild)


def _with_retired(
    result: Result, previous: list[dict[str, Any]], sector_idx: dict[str, int]
) -> Result:
    from .formation import Clusters

    cl = Clusters()
    for p in previous:
        i = cl.add(
            sector_idx[p["sector_code"]],
            int(p["province_code"]),
            RETIRED,
            "retired by a rebuild",
            "previous",
        )
        del i
    offset = len(previous)
    old = result.clusters
    for i in range(len(old)):
        cl.add(
            old.sector[i],
            old.province[i],
            old.status[i],
            old.reason[i],
            old.origin[i],
            old.split_from[i] + offset if old.split_from[i] >= 0 else -1,
        )
        cl.merged_into[-1] = old.merged_into[i] + offset if old.merged_into[i] >= 0 else -1
        cl.joined_sectors[-1] = old.joined_sectors[i]
    return Result(result.label + offset, cl, result.undersized, result.effective_sector, offset)


def build_report(
    plan: Plan, summary: dict[str, Any], params: Params, taxonomy: Taxonomy
) -> dict[str, Any]:
    r = plan.result
    cluster_sector = np.array(r.clusters.sector, dtype=np.int64)
    q = quality(
        r.label,
        plan.own_sector,
        cluster_sector,
        plan.points.regency,
        plan.lat,
        plan.lon,
        params.min_size,
        params.max_size,
    )
    undersized = []
    for u in r.undersized:
        entry = {k: v for k, v in u.items() if not k.endswith("index")}
        for key in ("cluster_index", "into_cluster_index"):
            if key in u and plan.codes:
                entry[key.replace("_index", "_code")] = plan.codes[int(u[key])]
        undersized.append(entry)
    forming = [
        {
            "code": plan.codes[i],
            "sector": plan.sectors[r.clusters.sector[i]],
            "reason": r.clusters.reason[i],
            "members": plan.stats[i]["n"],
        }
        for i in range(len(r.clusters))
        if r.clusters.status[i] == FORMING and plan.codes
    ]
    return {
        **summary,
        "params": {
            "min_size": params.min_size,
            "max_size": params.max_size,
            "target_size": params.target,
        },
        "taxonomy_version": taxonomy.version,
        "quality": q,
        "active_clusters": sum(1 for s in r.clusters.status if s == ACTIVE),
        "forming_clusters": forming,
        "undersized_groups": undersized,
    }


class FormationWorker:
    """Background worker: runs queued runs one at a time (advisory lock across replicas) and
    queues one on the schedule (`formation_interval_hours`)."""

    def __init__(self, db: Database, outbox: Outbox, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.runner = FormationRunner(db, outbox, settings)
        self.wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.on_idle: Callable[[], None] | None = None

    async def start(self) -> None:
        if self.settings.run_workers:
            self._task = asyncio.create_task(self._loop(), name="formation-worker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_pending()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("formation worker pass failed")
            try:
                await asyncio.wait_for(self.wake.wait(), self.settings.formation_poll_seconds)
            except TimeoutError:
                pass
            self.wake.clear()

    async def run_pending(self) -> int:
        """Run every queued run while holding the run lock; returns how many ran."""
        ran = 0
        async with self.db.engine.connect() as lock_conn:
            got = (
                await lock_conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": RUN_LOCK})
            ).scalar_one()
            await lock_conn.commit()
            if not got:
                return 0
            try:
                async with self.db.transaction() as s:
                    # runs left 'running' by a crashed worker: nobody holds the lock, run again
                    await s.execute(
                        text(
                            "UPDATE formation_runs SET status = 'queued', phase = 'requeued' "
                            "WHERE status = 'running'"
                        )
                    )
                await self._maybe_schedule()
                while True:
                    async with self.db.transaction() as s:
                        run_id = (
                            await s.execute(
                                text(
                                    "SELECT id FROM formation_runs WHERE status = 'queued' "
                                    "ORDER BY requested_at, id LIMIT 1"
                                )
                            )
                        ).scalar_one_or_none()
                    if run_id is None:
                        break
                    await self.runner.execute(run_id)
                    ran += 1
            finally:
                await lock_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": RUN_LOCK})
                await lock_conn.commit()
        return ran

    async def _maybe_schedule(self) -> None:
        hours = self.settings.formation_interval_hours
        if hours <= 0:
            return
        async with self.db.transaction() as s:
            last = (
                await s.execute(text("SELECT max(requested_at) FROM formation_runs"))
            ).scalar_one_or_none()
            if last is None or datetime.now(UTC) - last >= timedelta(hours=hours):
                await queue_run(s, self.settings, "schedule", "incremental")


async def queue_run(
    s: AsyncSession,
    settings: Settings,
    requested_by: str,
    mode: str,
    min_size: int | None = None,
    max_size: int | None = None,
) -> uuid.UUID:
    run_id = new_id()
    params = {
        "min_size": min_size or settings.min_cluster_size,
        "max_size": max_size or settings.max_cluster_size,
        "target": settings.target_cluster_size,
    }
    await s.execute(
        text(
            "INSERT INTO formation_runs (id, status, phase, mode, params, requested_by) "
            "VALUES (:id, 'queued', 'queued', :mode, CAST(:p AS jsonb), :by)"
        ),
        {"id": run_id, "mode": mode, "p": _json(params), "by": requested_by},
    )
    return run_id
