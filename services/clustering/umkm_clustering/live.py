"""Between formation runs: a new (or changed) UMKM joins the nearest cluster of its sector with
room at once; a cluster that grows past max splits along its curve order; one that falls under
min merges into the nearest cluster of its sector with room. All inside the consumer's
transaction, with events through the outbox."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from umkm_shared.events.base import EventPayload
from umkm_shared.events.clustering import (
    ClusterFormed,
    ClusterMerged,
    ClusterSplit,
    ClusterUpdated,
)
from umkm_shared.ids import new_id
from umkm_shared.messaging.outbox import Outbox

from .clusters import (
    APPLY_LOCK,
    CLUSTER_COLUMNS,
    assigned_events,
    chunks,
    cluster_code,
    cluster_name,
    cluster_row,
    code_prefix,
    code_seq,
    current_taxonomy,
    removed_events,
    snapshot,
    take_seqs,
)
from .config import Settings
from .formation import Params, bisect, run_count
from .geo import project_km
from .taxonomy import Taxonomy

# the nearest cluster of the sector with room among its NEAREST_WITH_ROOM nearest; when all
# of those are full, the nearest (which then splits)
NEAREST_WITH_ROOM = 5
_NEAREST = text(
    f"""
    SELECT * FROM (
        SELECT {CLUSTER_COLUMNS},
            power(centre_lat - :lat, 2) + power((centre_lon - :lon) * cos(radians(:lat)), 2)
                AS d2
        FROM clusters
        WHERE sector_code = :sector AND status <> 'retired' AND member_count > 0
        ORDER BY d2, code
        LIMIT {NEAREST_WITH_ROOM}
    ) near
    ORDER BY (member_count < :max) DESC, d2, code
    LIMIT 1
    """
)


class LiveMaintenance:
    def __init__(self, settings: Settings, outbox: Outbox) -> None:
        self.settings = settings
        self.outbox = outbox
        self.params = Params(
            settings.min_cluster_size, settings.max_cluster_size, settings.target_cluster_size
        )
        self._taxonomy: dict[int, Taxonomy] = {}
        self._taxonomy_at: tuple[Taxonomy, float] | None = None

    async def on_umkm_changed(self, session: AsyncSession, umkm_id: uuid.UUID) -> None:
        if not self.settings.live_assignment:
            return
        u = (
            await session.execute(
                text(
                    "SELECT u.kbli_code, u.province_code, u.lat, u.lon, u.status, "
                    "m.cluster_id, m.sector_code, m.province_code AS member_province "
                    "FROM umkm u LEFT JOIN cluster_members m ON m.umkm_id = u.id "
                    "WHERE u.id = :id"
                ),
                {"id": umkm_id},
            )
        ).one()
        member = u if u.cluster_id is not None else None
        if u.status != "active":
            if member is not None:
                await self.remove(session, [umkm_id], "inactive")
            return
        taxonomy = await self.taxonomy(session)
        sector = taxonomy.sector_of(u.kbli_code)
        if member is not None and member.sector_code == sector:
            if member.member_province == u.province_code:
                return
        await session.execute(text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": APPLY_LOCK})
        target = await self._nearest(session, sector, u.lat, u.lon)
        if target is None and (related := taxonomy.join_with(sector)) is not None:
            target = await self._nearest(session, related, u.lat, u.lon)
        if target is None:
            if member is not None:  # no cluster of its new sector yet: the next run forms one
                await self.remove(session, [umkm_id], "changed_sector")
            return
        source = member.cluster_id if member is not None else None
        if source == target["id"]:
            await session.execute(
                text(
                    "UPDATE cluster_members SET sector_code = :s, province_code = :p "
                    "WHERE umkm_id = :id"
                ),
                {"s": sector, "p": u.province_code, "id": umkm_id},
            )
            return
        seq = await take_seqs(session, 1)
        await session.execute(
            text(
                """
                INSERT INTO cluster_members (umkm_id, cluster_id, sector_code, province_code,
                    assignment_seq)
                VALUES (:id, :c, :s, :p, :seq)
                ON CONFLICT (umkm_id) DO UPDATE SET cluster_id = excluded.cluster_id,
                    sector_code = excluded.sector_code, province_code = excluded.province_code,
                    assignment_seq = excluded.assignment_seq, assigned_at = now()
                """
            ),
            {"id": umkm_id, "c": target["id"], "s": sector, "p": u.province_code, "seq": seq},
        )
        events: list[EventPayload] = assigned_events(
            [
                (
                    target["id"],
                    target["sector_code"],
                    source,
                    "new_umkm" if source is None else "changed",
                    [umkm_id],
                )
            ],
            seq,
            None,
        )
        await self.outbox.enqueue_many(session, events)
        await self._recount(session, [target["id"]] + ([source] if source else []))
        await self._rebalance(session, target["id"], taxonomy)
        if source is not None:
            await self._rebalance(session, source, taxonomy)

    async def taxonomy(self, session: AsyncSession) -> Taxonomy:
        """The current taxonomy, re-read at most every few seconds (it changes rarely)."""
        now = time.monotonic()
        if self._taxonomy_at is None or now - self._taxonomy_at[1] > 5.0:
            self._taxonomy_at = (await current_taxonomy(session, self._taxonomy), now)
        return self._taxonomy_at[0]

    async def _nearest(
        self, session: AsyncSession, sector: str, lat: float, lon: float
    ) -> dict[str, Any] | None:
        r = await session.execute(
            _NEAREST, {"sector": sector, "lat": lat, "lon": lon, "max": self.params.max_size}
        )
        row = r.mappings().first()
        return dict(row) if row is not None else None

    async def remove(self, session: AsyncSession, umkm_ids: list[uuid.UUID], reason: str) -> None:
        """UMKM leave their cluster without joining another (deactivated, merged away)."""
        await session.execute(text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": APPLY_LOCK})
        rows = (
            await session.execute(
                text(
                    "DELETE FROM cluster_members WHERE umkm_id = ANY(:ids) "
                    "RETURNING cluster_id, umkm_id"
                ),
                {"ids": umkm_ids},
            )
        ).all()
        if not rows:
            return
        by_cluster: dict[uuid.UUID, list[uuid.UUID]] = {}
        for c, u in rows:
            by_cluster.setdefault(c, []).append(u)
        batches = [(c, reason, ids) for c, ids in sorted(by_cluster.items())]
        seq = await take_seqs(session, len(batches))
        await self.outbox.enqueue_many(session, removed_events(batches, seq))
        await self._recount(session, list(by_cluster))
        if self.settings.live_assignment:
            taxonomy = await self.taxonomy(session)
            for c in by_cluster:
                await self._rebalance(session, c, taxonomy)

    async def _recount(self, session: AsyncSession, cluster_ids: list[uuid.UUID]) -> None:
        """Refresh size and centre of clusters from their members; ClusterUpdated for each."""
        rows = (
            await session.execute(
                text(
                    f"""
                    WITH s AS (
                        SELECT m.cluster_id, count(*) AS n, avg(u.lat) AS lat, avg(u.lon) AS lon
                        FROM cluster_members m JOIN umkm u ON u.id = m.umkm_id
                        WHERE m.cluster_id = ANY(:ids) GROUP BY m.cluster_id
                    )
                    UPDATE clusters c SET member_count = coalesce(s.n, 0),
                        centre_lat = coalesce(s.lat, c.centre_lat),
                        centre_lon = coalesce(s.lon, c.centre_lon),
                        version = c.version + 1, updated_at = now()
                    FROM (SELECT unnest(CAST(:ids AS uuid[])) AS id) x
                    LEFT JOIN s ON s.cluster_id = x.id
                    WHERE c.id = x.id
                    RETURNING {", ".join("c." + col.strip() for col in CLUSTER_COLUMNS.split(","))}
                    """
                ),
                {"ids": cluster_ids},
            )
        ).mappings()
        events: list[EventPayload] = [
            ClusterUpdated(cluster=snapshot(r), changed_fields=["member_count", "centre"])
            for r in rows
        ]
        await self.outbox.enqueue_many(session, events)

    async def _rebalance(
        self, session: AsyncSession, cluster_id: uuid.UUID, taxonomy: Taxonomy
    ) -> None:
        row = await cluster_row(session, cluster_id)
        if row is None or row["status"] == "retired":
            return
        n = int(row["member_count"])
        if n > self.params.max_size:
            await self.split(session, row, taxonomy, None)
        elif row["status"] == "active" and 0 < n < self.params.min_size:
            await self.merge(session, row)
        elif row["status"] == "active" and n == 0:
            await self._retire(session, row, "no members left")

    async def _retire(self, session: AsyncSession, row: dict[str, Any], reason: str) -> None:
        await session.execute(
            text(
                "UPDATE clusters SET status = 'retired', status_reason = :r, retired_at = now(), "
                "version = version + 1, updated_at = now() WHERE id = :id"
            ),
            {"r": reason, "id": row["id"]},
        )

    async def split(
        self,
        session: AsyncSession,
        row: dict[str, Any],
        taxonomy: Taxonomy,
        run_id: uuid.UUID | None,
    ) -> list[uuid.UUID]:
        members = (
            await session.execute(
                text(
                    "SELECT m.umkm_id, u.lat, u.lon, u.province_code, u.regency_code "
                    "FROM cluster_members m JOIN umkm u ON u.id = m.umkm_id "
                    "WHERE m.cluster_id = :c ORDER BY m.umkm_id"
                ),
                {"c": row["id"]},
            )
        ).all()
        ids = [m[0] for m in members]
        lat = np.array([m[1] for m in members], dtype=np.float64)
        lon = np.array([m[2] for m in members], dtype=np.float64)
        k = run_count(len(ids), self.params)
        px, py = project_km(lat, lon)
        runs = bisect(px, py, k)
        order = np.arange(len(ids))
        sector, province = row["sector_code"], row["province_code"]
        prefix = code_prefix(sector, province)
        last = (
            await session.execute(
                text("SELECT max(code) FROM clusters WHERE code LIKE :p"), {"p": prefix + "-%"}
            )
        ).scalar_one()
        seq0 = code_seq(last) if last else 0
        new_ids: list[uuid.UUID] = []
        batches: list[tuple[uuid.UUID, str, uuid.UUID | None, str, list[uuid.UUID]]] = []
        for r in range(k):
            cid = new_id()
            seq = seq0 + r + 1
            part = [ids[i] for i in order[runs == r]]
            provs = sorted({members[i][3] for i in order[runs == r]})
            regs = sorted({members[i][4] for i in order[runs == r]})
            await session.execute(
                text(
                    """
                    INSERT INTO clusters (id, code, sector_code, name, province_code,
                        province_codes, regency_codes, joined_sectors, status, status_reason,
                        member_count, centre_lat, centre_lon, min_lat, max_lat, min_lon, max_lon,
                        run_id)
                    VALUES (:id, :code, :sector, :name, :prov, :provs, :regs, :joined, 'active',
                        :reason, :n, :clat, :clon, :a, :b, :c, :d, :run)
                    """
                ),
                {
                    "id": cid,
                    "code": cluster_code(sector, province, seq),
                    "sector": sector,
                    "name": cluster_name(taxonomy, sector, province, seq),
                    "prov": province,
                    "provs": provs,
                    "regs": regs,
                    "joined": list(row["joined_sectors"] or []),
                    "reason": f"split from {row['code']}",
                    "n": len(part),
                    "clat": float(lat[order[runs == r]].mean()),
                    "clon": float(lon[order[runs == r]].mean()),
                    "a": float(lat[order[runs == r]].min()),
                    "b": float(lat[order[runs == r]].max()),
                    "c": float(lon[order[runs == r]].min()),
                    "d": float(lon[order[runs == r]].max()),
                    "run": run_id,
                },
            )
            await session.execute(
                text("UPDATE cluster_members SET cluster_id = :c WHERE umkm_id = ANY(:ids)"),
                {"c": cid, "ids": part},
            )
            new_ids.append(cid)
            batches.extend((cid, sector, row["id"], "split", b) for b in chunks(part))
        await self._retire(session, row, f"split: grew past {self.params.max_size} members")
        seq = await take_seqs(session, len(batches))
        await session.execute(
            text("UPDATE cluster_members m SET assignment_seq = :s WHERE cluster_id = ANY(:ids)"),
            {"s": seq + len(batches) - 1, "ids": new_ids},
        )
        retired = await cluster_row(session, row["id"])
        assert retired is not None
        events: list[EventPayload] = [
            ClusterSplit(cluster=snapshot(retired), into_cluster_ids=new_ids)
        ]
        for cid in new_ids:
            new_row = await cluster_row(session, cid)
            assert new_row is not None
            events.append(ClusterFormed(cluster=snapshot(new_row), run_id=run_id))
        events.extend(assigned_events(batches, seq, run_id))
        await self.outbox.enqueue_many(session, events)
        return new_ids

    async def merge(self, session: AsyncSession, row: dict[str, Any]) -> None:
        n = int(row["member_count"])
        host = (
            (
                await session.execute(
                    text(
                        f"""
                    SELECT {CLUSTER_COLUMNS} FROM clusters
                    WHERE sector_code = :sector AND status <> 'retired' AND id <> :id
                        AND member_count > 0 AND member_count + :n <= :max
                    ORDER BY power(centre_lat - :lat, 2)
                        + power((centre_lon - :lon) * cos(radians(:lat)), 2), code
                    LIMIT 1
                    """
                    ),
                    {
                        "sector": row["sector_code"],
                        "id": row["id"],
                        "n": n,
                        "max": self.params.max_size,
                        "lat": row["centre_lat"],
                        "lon": row["centre_lon"],
                    },
                )
            )
            .mappings()
            .first()
        )
        if host is None:
            reason = (
                f"forming: {n} members (fewer than {self.params.min_size}) and no neighbouring "
                "cluster of the sector has room"
            )
            updated = (
                (
                    await session.execute(
                        text(
                            f"UPDATE clusters SET status = 'forming', status_reason = :r, "
                            f"version = version + 1, updated_at = now() WHERE id = :id "
                            f"RETURNING {CLUSTER_COLUMNS}"
                        ),
                        {"r": reason, "id": row["id"]},
                    )
                )
                .mappings()
                .one()
            )
            await self.outbox.enqueue(
                session, ClusterUpdated(cluster=snapshot(updated), changed_fields=["status"])
            )
            return
        moved = [
            r[0]
            for r in await session.execute(
                text(
                    "UPDATE cluster_members SET cluster_id = :h WHERE cluster_id = :c "
                    "RETURNING umkm_id"
                ),
                {"h": host["id"], "c": row["id"]},
            )
        ]
        moved.sort()
        batches = [(host["id"], host["sector_code"], row["id"], "merge", b) for b in chunks(moved)]
        seq = await take_seqs(session, len(batches))
        await session.execute(
            text("UPDATE cluster_members SET assignment_seq = :s WHERE umkm_id = ANY(:ids)"),
            {"s": seq + len(batches) - 1, "ids": moved},
        )
        await session.execute(
            text(
                "UPDATE clusters SET status = 'retired', status_reason = :r, member_count = 0, "
                "retired_at = now(), version = version + 1, updated_at = now() WHERE id = :id"
            ),
            {
                "r": f"merged into {host['code']}: fell under {self.params.min_size}",
                "id": row["id"],
            },
        )
        retired = await cluster_row(session, row["id"])
        assert retired is not None
        await self.outbox.enqueue_many(
            session,
            [
                ClusterMerged(cluster=snapshot(retired), into_cluster_id=host["id"]),
                *assigned_events(batches, seq, None),
            ],
        )
        await self._recount(session, [host["id"]])

    async def resolve_anchor(self, session: AsyncSession, anchor_id: uuid.UUID) -> None:
        """Clusters waiting for this anchor's registration now have a resolved operator."""
        rows = (
            await session.execute(
                text(
                    f"""
                    UPDATE clusters SET operator_status = 'resolved', version = version + 1,
                        updated_at = now()
                    WHERE operator_anchor_id = :a AND operator_status = 'pending'
                    RETURNING {CLUSTER_COLUMNS}
                    """
                ),
                {"a": anchor_id},
            )
        ).mappings()
        events: list[EventPayload] = [
            ClusterUpdated(cluster=snapshot(r), changed_fields=["operator"]) for r in rows
        ]
        await self.outbox.enqueue_many(session, events)


def now() -> datetime:
    return datetime.now(UTC)
