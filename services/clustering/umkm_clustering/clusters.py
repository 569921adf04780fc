"""Helpers around cluster rows shared by the formation job and live maintenance: codes,
names, event snapshots, membership event batches, the current taxonomy."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from umkm_shared.events.base import EventPayload
from umkm_shared.events.clustering import (
    MAX_MEMBERS_PER_EVENT,
    ClusterMembersAssigned,
    ClusterMembersRemoved,
    ClusterSnapshot,
)
from umkm_shared.reference import wilayah

from .taxonomy import Taxonomy

# one run applies at a time, and live maintenance waits for an apply to finish
APPLY_LOCK = 0x6B6C7573_01  # "klus" 1
RUN_LOCK = 0x6B6C7573_02

CLUSTER_COLUMNS = (
    "id, code, sector_code, name, province_code, province_codes, regency_codes, joined_sectors, "
    "status, status_reason, member_count, centre_lat, centre_lon, min_lat, max_lat, min_lon, "
    "max_lon, operator_anchor_id, operator_umkm_id, operator_status, version, run_id, "
    "created_at, updated_at, retired_at"
)


def code_prefix(sector: str, province: str) -> str:
    return f"{sector.upper().replace('_', '-')}-{province}"


def cluster_code(sector: str, province: str, seq: int) -> str:
    return f"{code_prefix(sector, province)}-{seq:04d}"


def code_seq(code: str) -> int:
    m = re.search(r"-(\d+)$", code)
    return int(m.group(1)) if m else 0


def cluster_name(taxonomy: Taxonomy, sector: str, province: str, seq: int) -> str:
    prov = wilayah().name_of(province) or province
    return f"{taxonomy.name_of(sector)} - {prov} #{seq}"


def snapshot(row: Mapping[Any, Any]) -> ClusterSnapshot:
    return ClusterSnapshot(
        cluster_id=row["id"],
        code=row["code"],
        sector_code=row["sector_code"],
        name=row["name"],
        province_code=row["province_code"],
        regency_codes=list(row["regency_codes"] or []),
        status=row["status"],
        status_reason=row["status_reason"],
        member_count=int(row["member_count"]),
        centre_latitude=row["centre_lat"],
        centre_longitude=row["centre_lon"],
        operator_anchor_id=row["operator_anchor_id"],
        operator_umkm_id=row["operator_umkm_id"],
        version=int(row["version"]),
        updated_at=row["updated_at"] or datetime.now(UTC),
    )


async def cluster_row(session: AsyncSession, cluster_id: uuid.UUID) -> dict[str, Any] | None:
    r = await session.execute(
        text(f"SELECT {CLUSTER_COLUMNS} FROM clusters WHERE id = :id"), {"id": cluster_id}
    )
    row = r.mappings().first()
    return dict(row) if row is not None else None


async def current_taxonomy(session: AsyncSession, cache: dict[int, Taxonomy]) -> Taxonomy:
    r = await session.execute(
        text("SELECT version, data FROM taxonomy_versions ORDER BY version DESC LIMIT 1")
    )
    version, data = r.one()
    if version not in cache:
        cache.clear()
        cache[version] = Taxonomy(version, data)
    return cache[version]


async def take_seqs(session: AsyncSession, count: int) -> int:
    """Reserve `count` consecutive assignment sequence numbers; returns the first."""
    if count <= 0:
        return 0
    r = await session.execute(
        text("SELECT setval('assignment_seq', nextval('assignment_seq') + :n - 1)"),
        {"n": count},
    )
    last = int(r.scalar_one())
    return last - count + 1


def chunks(ids: Sequence[uuid.UUID]) -> Iterable[list[uuid.UUID]]:
    for i in range(0, len(ids), MAX_MEMBERS_PER_EVENT):
        yield list(ids[i : i + MAX_MEMBERS_PER_EVENT])


def assigned_events(
    batches: Sequence[tuple[uuid.UUID, str, uuid.UUID | None, str, list[uuid.UUID]]],
    first_seq: int,
    run_id: uuid.UUID | None,
) -> list[EventPayload]:
    """(cluster, sector, from cluster, reason, ids<=1000) batches -> events, seq in order."""
    now = datetime.now(UTC)
    return [
        ClusterMembersAssigned(
            cluster_id=cluster,
            sector_code=sector,
            from_cluster_id=source,
            umkm_ids=ids,
            reason=reason,
            run_id=run_id,
            assignment_seq=first_seq + i,
            assigned_at=now,
        )
        for i, (cluster, sector, source, reason, ids) in enumerate(batches)
    ]


def removed_events(
    batches: Sequence[tuple[uuid.UUID, str, list[uuid.UUID]]], first_seq: int
) -> list[EventPayload]:
    now = datetime.now(UTC)
    return [
        ClusterMembersRemoved(
            cluster_id=cluster,
            umkm_ids=ids,
            reason=reason,
            assignment_seq=first_seq + i,
            removed_at=now,
        )
        for i, (cluster, reason, ids) in enumerate(batches)
    ]
