"""The supplier read model, kept from registry and clustering events (inbox consumer).

Each handler runs inside the consumer's transaction (with the inbox row) and never commits.
- UmkmRegistered/UmkmUpdated carry a full snapshot: applied only when newer than the stored
  one (`registry_version`), so a repeated or late event cannot roll a profile back.
- Koperasi memberships are kept per membership; the supplier's `koperasi_id` is its most
  recent active membership.
- Cluster assignments keep, per UMKM, the highest `assignment_seq` seen (events of different
  clusters arrive in any order); ClusterFormed/Updated/Split/Merged give the operator anchor.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from umkm_shared.db import Database
from umkm_shared.events.clustering import (
    ClusterFormed,
    ClusterMembersAssigned,
    ClusterMembersRemoved,
    ClusterMerged,
    ClusterSplit,
    ClusterUpdated,
)
from umkm_shared.events.envelope import CloudEvent
from umkm_shared.events.koperasi import KoperasiMembershipEnded, KoperasiMembershipStarted
from umkm_shared.events.registry import (
    UmkmDeactivated,
    UmkmMerged,
    UmkmRegistered,
    UmkmScaleChanged,
    UmkmSnapshot,
    UmkmUpdated,
)
from umkm_shared.messaging.bus import EventBus
from umkm_shared.messaging.consumer import EventConsumer, EventHandler
from umkm_shared.messaging.tables import MessagingTables

from .models import TXID, Cluster, ClusterAssignment, Membership, Supplier


def _snapshot_values(u: UmkmSnapshot) -> dict[str, Any]:
    return {
        "business_name": u.business_name,
        "kbli_code": u.kbli_primary.code,
        "kbli_others": [k.code for k in u.kbli_others],
        "village_code": u.village_code,
        "province_code": u.province_code,
        "latitude": u.latitude,
        "longitude": u.longitude,
        "scale": u.scale,
        "registry_products": list(u.products),
        "registry_certifications": [c.model_dump(mode="json") for c in u.certifications],
        "status": u.status,
        "registry_version": u.version,
    }


async def _koperasi_of(session: AsyncSession, umkm_id: uuid.UUID) -> uuid.UUID | None:
    return await session.scalar(
        select(Membership.koperasi_id)
        .where(Membership.umkm_id == umkm_id, Membership.active)
        .order_by(Membership.joined_on.desc(), Membership.membership_id.desc())
        .limit(1)
    )


async def upsert_snapshot(session: AsyncSession, u: UmkmSnapshot) -> None:
    values = _snapshot_values(u)
    assignment = await session.get(ClusterAssignment, u.umkm_id)
    stmt = insert(Supplier).values(
        umkm_id=u.umkm_id,
        koperasi_id=await _koperasi_of(session, u.umkm_id),
        cluster_id=assignment.cluster_id if assignment else None,
        cluster_seq=assignment.assignment_seq if assignment else 0,
        **values,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[Supplier.umkm_id],
        set_={**values, "updated_at": stmt.excluded.updated_at},
        where=Supplier.registry_version < stmt.excluded.registry_version,
    )
    await session.execute(stmt)


async def on_registered(session: AsyncSession, p: UmkmRegistered, _: CloudEvent) -> None:
    await upsert_snapshot(session, p.umkm)


async def on_updated(session: AsyncSession, p: UmkmUpdated, _: CloudEvent) -> None:
    await upsert_snapshot(session, p.umkm)


async def on_scale_changed(session: AsyncSession, p: UmkmScaleChanged, _: CloudEvent) -> None:
    await session.execute(
        update(Supplier).where(Supplier.umkm_id == p.umkm_id).values(scale=p.new_scale)
    )


async def on_deactivated(session: AsyncSession, p: UmkmDeactivated, _: CloudEvent) -> None:
    await session.execute(
        update(Supplier).where(Supplier.umkm_id == p.umkm_id).values(status="inactive")
    )


async def on_merged(session: AsyncSession, p: UmkmMerged, _: CloudEvent) -> None:
    await session.execute(
        update(Supplier)
        .where(Supplier.umkm_id == p.merged_id)
        .values(status="merged", merged_into=p.survivor_id)
    )


async def _refresh_koperasi(session: AsyncSession, umkm_id: uuid.UUID) -> None:
    await session.execute(
        update(Supplier)
        .where(Supplier.umkm_id == umkm_id)
        .values(koperasi_id=await _koperasi_of(session, umkm_id))
    )


async def on_membership_started(
    session: AsyncSession, p: KoperasiMembershipStarted, _: CloudEvent
) -> None:
    stmt = insert(Membership).values(
        membership_id=p.membership_id,
        umkm_id=p.umkm_id,
        koperasi_id=p.koperasi_id,
        joined_on=p.joined_on,
        active=True,
    )
    await session.execute(stmt.on_conflict_do_nothing(index_elements=[Membership.membership_id]))
    await _refresh_koperasi(session, p.umkm_id)


async def on_membership_ended(
    session: AsyncSession, p: KoperasiMembershipEnded, _: CloudEvent
) -> None:
    stmt = insert(Membership).values(
        membership_id=p.membership_id,
        umkm_id=p.umkm_id,
        koperasi_id=p.koperasi_id,
        joined_on=p.joined_on,
        left_on=p.left_on,
        active=False,
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[Membership.membership_id],
            set_={"active": False, "left_on": p.left_on},
        )
    )
    await _refresh_koperasi(session, p.umkm_id)


async def _assign(
    session: AsyncSession, umkm_ids: list[uuid.UUID], cluster_id: uuid.UUID | None, seq: int
) -> None:
    if not umkm_ids:
        return
    stmt = insert(ClusterAssignment).values(
        [{"umkm_id": u, "cluster_id": cluster_id, "assignment_seq": seq} for u in umkm_ids]
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[ClusterAssignment.umkm_id],
            set_={"cluster_id": cluster_id, "assignment_seq": seq},
            where=ClusterAssignment.assignment_seq < seq,
        )
    )
    await session.execute(
        update(Supplier)
        .where(Supplier.umkm_id.in_(umkm_ids), Supplier.cluster_seq < seq)
        .values(cluster_id=cluster_id, cluster_seq=seq)
    )


async def on_members_assigned(
    session: AsyncSession, p: ClusterMembersAssigned, _: CloudEvent
) -> None:
    await _assign(session, list(p.umkm_ids), p.cluster_id, p.assignment_seq)


async def on_members_removed(
    session: AsyncSession, p: ClusterMembersRemoved, _: CloudEvent
) -> None:
    await _assign(session, list(p.umkm_ids), None, p.assignment_seq)


async def on_cluster(
    session: AsyncSession,
    p: ClusterFormed | ClusterUpdated | ClusterSplit | ClusterMerged,
    _: CloudEvent,
) -> None:
    c = p.cluster
    stmt = insert(Cluster).values(
        cluster_id=c.cluster_id,
        sector_code=c.sector_code,
        operator_anchor_id=c.operator_anchor_id,
        version=c.version,
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[Cluster.cluster_id],
            set_={
                "sector_code": c.sector_code,
                "operator_anchor_id": c.operator_anchor_id,
                "version": c.version,
                "sync_txid": TXID,
            },
            where=Cluster.version < c.version,
        )
    )


HANDLERS: dict[Any, EventHandler] = {
    UmkmRegistered: on_registered,
    UmkmUpdated: on_updated,
    UmkmScaleChanged: on_scale_changed,
    UmkmDeactivated: on_deactivated,
    UmkmMerged: on_merged,
    KoperasiMembershipStarted: on_membership_started,
    KoperasiMembershipEnded: on_membership_ended,
    ClusterMembersAssigned: on_members_assigned,
    ClusterMembersRemoved: on_members_removed,
    ClusterFormed: on_cluster,
    ClusterUpdated: on_cluster,
    ClusterSplit: on_cluster,
    ClusterMerged: on_cluster,
}


def supplier_consumer(
    db: Database, tables: MessagingTables, bus: EventBus, group: str
) -> EventConsumer:
    return EventConsumer(db, tables, bus, group, None, HANDLERS)
